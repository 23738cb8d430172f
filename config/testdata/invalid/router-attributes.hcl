# Router timeout, host_address, lan_interface_list and TLS settings.
router "edge" {
  url                = "https://192.168.88.1"
  username           = "" # ERROR: Empty username
  password           = env("WANCTL_ROUTER_PASSWORD")
  timeout            = "0s" # ERROR: Timeout must be positive
  host_address       = "192.168.88" # ERROR: Invalid IP address
  lan_interface_list = "my LAN" # ERROR: Invalid interface list name
  ca_file            = "no-such-ca.pem" # ERROR: Cannot read CA file "no-such-ca.pem"
  tls_skip_verify    = true # ERROR: Conflicting TLS settings
}

wan "cable" {
  interface = "ether1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8"]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
