# Values of the wrong type.
router "edge" {
  url             = "https://192.168.88.1"
  username        = "wanctl"
  password        = env("WANCTL_ROUTER_PASSWORD")
  host_address    = "192.168.88.10"
  adopt_existing  = "maybe" # ERROR: Incorrect attribute value type
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = "1.1.1.1" # ERROR: Incorrect attribute value type
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
