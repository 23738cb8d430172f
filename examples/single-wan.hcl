# The smallest useful setup: one router, one internet link shaped with CAKE
# and autorated by wanctl.
#
# Check it:  WANCTL_ROUTER_PASSWORD=wanctl wanctl validate -config examples/single-wan.hcl
# Reference: docs/config.md (every attribute, its default and its limits)

router "edge" {
  url      = "https://192.168.88.1" # the router's REST API; wanctl appends "/rest"
  username = "wanctl"               # a router user allowed to read and write (group "full" or a custom one)
  # The password is read from the environment, never written here
  # (the systemd units read /etc/wanctl/env). file("/etc/wanctl/router-password")
  # works too.
  password = env("WANCTL_ROUTER_PASSWORD")

  # This host's address as the router sees it. wanctl pins its own pings to
  # the WAN with a routing rule from this address (see pin_routes).
  host_address = "192.168.88.10"
}

# Optional: these are the defaults.
# daemon {
#   state_dir = "/var/lib/wanctl"
#   lock_dir  = "/run/wanctl"
#   interval  = "50ms"
#   listen    = "127.0.0.1:9101"
# }

wan "isp" {
  interface = "ether1"      # the WAN port: upload is shaped here
  gateway   = "203.0.113.1" # the ISP's next hop (ip route print where dst-address=0.0.0.0/0)

  measurement {
    # Hosts that answer pings quickly and reliably. The median of their delays
    # is what wanctl reacts to, so three or more are best.
    reflectors = ["1.1.1.1", "8.8.8.8", "9.9.9.9"]
  }

  download {
    # The highest rate the line really delivers. Start at about 90 % of a
    # speed test; autorate only ever moves the shaper below this.
    ceiling = "450M"
  }

  upload {
    ceiling = "45M"
  }
}
