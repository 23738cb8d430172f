# pin_routes defaults to true with a gateway, and then needs host_address; the error points at the gateway.
router "edge" {
  url      = "https://192.168.88.1"
  username = "wanctl"
  password = env("WANCTL_ROUTER_PASSWORD")
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1" # ERROR: pin_routes needs the router's host_address

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
