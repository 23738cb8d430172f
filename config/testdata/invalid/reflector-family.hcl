# Pinned reflectors must be of host_address's IP family.
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
    reflectors = [
      "1.1.1.1",
      "2606:4700:4700::1111", # ERROR: Reflector address family differs from host_address
    ]
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
