# At most one steering block.
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

  rule "voip" {
    protocol = "udp"
  }
}

steering { # ERROR: Duplicate steering block
  primary   = "cable"
  alternate = "fibre"

  rule "voip" {
    protocol = "udp"
  }
}
