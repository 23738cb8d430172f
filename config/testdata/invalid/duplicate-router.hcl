# Two router blocks with one label.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

router "edge" { # ERROR: Duplicate router name
  url      = "https://192.168.88.2"
  username = "wanctl"
  password = env("WANCTL_ROUTER_PASSWORD")
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
