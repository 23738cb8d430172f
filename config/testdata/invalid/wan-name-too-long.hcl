# The WAN name is part of derived names of at most 63 characters.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "a-very-long-wan-name-that-will-not-fit-into-routeros" { # ERROR: WAN name too long
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
