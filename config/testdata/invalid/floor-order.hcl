# Floors must be ordered red <= soft_red <= yellow <= green.
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

    floor {
      green  = "50M"
      yellow = "60M" # ERROR: Floor "yellow" is above floor "green"
    }
  }

  upload {
    ceiling = "10M"
  }
}
