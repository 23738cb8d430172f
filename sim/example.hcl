# The WAN `wanctl simulate` uses when no configuration is given: a 500/50
# Mbit/s cable line with the ceilings at 90 % of it, four reflectors, and
# every other setting at its default. The simulator never talks to the
# router; the password only satisfies the configuration's rules.

router "edge" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "example" {
  interface = "ether1"
  gateway   = "203.0.113.1"

  measurement {
    reflectors   = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222"]
    tcp_fallback = ["1.1.1.1:443", "8.8.8.8:443"]
  }

  download {
    ceiling = "450M"
  }

  upload {
    ceiling = "45M"
  }
}
