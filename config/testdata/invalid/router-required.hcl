# With two routers, each wan must say which one it uses.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

router "core" {
  url      = "https://10.0.0.1"
  username = "wanctl"
  password = env("WANCTL_ROUTER_PASSWORD")
}

wan "cable" { # ERROR: Missing required argument
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
