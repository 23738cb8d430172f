# pin_routes = true needs the WAN's gateway.
router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8"]
    pin_routes = true # ERROR: pin_routes needs a gateway
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
