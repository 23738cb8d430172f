# Two WANs on one MikroTik router: a fast cable line ("cable", ether1) and a
# DSL/fibre backup ("fibre", ether2). Both are shaped with CAKE and autorated.
# While the cable line stays congested, new latency-sensitive connections
# (VoIP, games, DSCP-marked traffic, the work laptops) leave through "fibre".
#
# Check it:  WANCTL_ROUTER_PASSWORD=wanctl wanctl validate -config examples/dual-wan-steering.hcl
# Reference: docs/config.md

router "edge" {
  url      = "https://192.168.88.1" # the router's REST API (www-ssl service); "/rest" is appended
  username = "wanctl"
  # Never write the password into the file: read it from the environment
  # (systemd: /etc/wanctl/env) or from a file only wanctl can read.
  password = env("WANCTL_ROUTER_PASSWORD")
  # ca_file = "/etc/wanctl/router-ca.pem" # the router's certificate, if it is self-signed

  # This host's address as the router sees it: the reflector pings of each
  # WAN are pinned to that WAN with routing rules from this address.
  host_address = "192.168.88.10"
}

wan "cable" {
  interface = "ether1"     # where the WAN's traffic leaves the router
  gateway   = "100.64.0.1" # the ISP's next hop

  measurement {
    # Public hosts answering pings; each WAN needs its own.
    reflectors   = ["1.1.1.1", "8.8.8.8", "9.9.9.9"]
    tcp_fallback = ["1.1.1.1:443", "8.8.8.8:443"] # used while ICMP is blocked
  }

  download {
    ceiling = "940M" # the most the line ever delivers; start a little below the sold rate

    floor {
      red = "200M" # RED never cuts below this
    }

    cake {
      overhead        = 18 # DOCSIS framing
      mpu             = 64
      overhead_scheme = ["docsis"]
    }
  }

  upload {
    ceiling = "38M"

    cake {
      overhead        = 18
      mpu             = 64
      overhead_scheme = ["docsis"]
    }
  }
}

wan "fibre" {
  interface = "ether2"
  gateway   = "192.168.1.254"

  measurement {
    reflectors = ["208.67.222.222", "149.112.112.112", "94.140.14.14"]
  }

  download {
    ceiling = "300M"
  }

  upload {
    ceiling = "100M"
  }
}

steering {
  primary   = "cable"
  alternate = "fibre" # steered connections use its routing table, wanctl-fibre

  rule "voip" { # new UDP connections to SIP/STUN ports
    protocol  = "udp"
    dst_ports = "3478-3481,5060"
  }

  rule "latency-sensitive" {
    dscp = ["ef", "af41"] # one mangle rule per value
  }

  rule "work-vpn" {
    src_address_list = "work-laptops"
  }

  address_list "work-laptops" {
    addresses = ["192.168.88.50", "192.168.88.51"]
  }
}
