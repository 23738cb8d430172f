# Valid, with warnings about insecure settings.
router "edge" {
  url             = "https://192.168.88.1"
  username        = "wanctl"
  password        = env("WANCTL_ROUTER_PASSWORD")
  host_address    = "192.168.88.10"
  tls_skip_verify = true # WARNING: TLS certificate verification is off
}

router "lab" {
  url             = "http://10.0.0.1" # WARNING: Router password sent in clear text # WARNING: TLS settings have no effect over http://
  username        = "wanctl"
  password        = env("WANCTL_ROUTER_PASSWORD")
  host_address    = "10.0.0.10"
  tls_skip_verify = true
}

daemon {
  listen = "0.0.0.0:9101" # WARNING: Metrics endpoint reachable from the network
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"
  router    = "edge"

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

wan "fibre" {
  interface = "ether2"
  gateway   = "192.168.1.254"
  router    = "edge"

  measurement {
    reflectors = ["9.9.9.9", "208.67.222.222"]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}

steering {
  primary   = "cable"
  alternate = "fibre"

  rule "printers" {
    dst_address_list = "managed-elsewhere" # WARNING: Address list "managed-elsewhere" is not declared here
  }
}
