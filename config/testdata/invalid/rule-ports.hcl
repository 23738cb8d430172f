# Ports need tcp/udp/sctp/udp-lite/dccp, and valid port lists.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

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

  rule "a" {
    dst_ports = "443" # ERROR: Ports need a protocol
  }

  rule "b" {
    protocol  = "icmp"
    src_ports = "1000-2000" # ERROR: Protocol "icmp" has no ports
  }

  rule "c" {
    protocol  = "udp"
    dst_ports = "5060,70000" # ERROR: Invalid port list
  }

  rule "d" {
    protocol  = "tcp"
    dst_ports = "2000-1000" # ERROR: Invalid port list
  }
}
