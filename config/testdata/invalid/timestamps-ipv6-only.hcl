# ICMP timestamp requests are IPv4 only: a WAN with only IPv6 reflectors
# cannot use them.
router "edge" {
  url      = "https://192.168.88.1"
  username = "wanctl"
  password = env("WANCTL_ROUTER_PASSWORD")
}

wan "cable" {
  interface = "ether1"

  measurement {
    reflectors = ["2606:4700:4700::1111", "2001:4860:4860::8888"]
    timestamps = true # ERROR: timestamps need an IPv4 reflector
  }

  download {
    ceiling = "100M"
  }

  upload {
    ceiling = "10M"
  }
}
