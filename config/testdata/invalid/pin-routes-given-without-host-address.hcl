# An explicit pin_routes = true without host_address points at pin_routes.
router "edge" {
  url      = "https://192.168.88.1"
  username = "wanctl"
  password = env("WANCTL_ROUTER_PASSWORD")
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8"]
    pin_routes = true # ERROR: pin_routes needs the router's host_address
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
