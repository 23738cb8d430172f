# A slow VDSL2 line reached over PPPoE. At these rates every packet takes a
# while on the wire, so the framing overhead must be right (CAKE's ptm and
# pppoe-ptm) and the rate moves in small steps.
#
# Check it:  WANCTL_ROUTER_PASSWORD=wanctl wanctl validate -config examples/dsl-low-rate.hcl

router "home" {
  url          = "https://192.168.88.1"
  username     = "wanctl"
  password     = env("WANCTL_ROUTER_PASSWORD")
  host_address = "192.168.88.10"
}

wan "vdsl" {
  # PPPoE: the layer-3 interface is the PPPoE client, and it is also the
  # gateway (a PPPoE link has no next-hop address).
  interface = "pppoe-out1"
  gateway   = "pppoe-out1"

  measurement {
    reflectors = ["1.1.1.1", "9.9.9.9", "208.67.222.222"]
    ping_rate  = 10 # fewer pings: they cost upload on a 1 Mbit/s line
  }

  download {
    ceiling = "15.5M" # decimals are fine: 15 500 000 bits/s
    step_up = "250k"  # small steps up (the default would be 2 % = 310k)

    floor {
      red = "4M" # never below this, even when the line is badly congested
    }

    cake {
      atm             = "ptm"         # VDSL2 uses PTM framing (ADSL: "atm")
      overhead_scheme = ["pppoe-ptm"] # PPPoE over VDSL2
      mpu             = 68
    }
  }

  upload {
    ceiling = "1M"
    step_up = "20k"

    cake {
      atm             = "ptm"
      overhead_scheme = ["pppoe-ptm"]
      mpu             = 68
      ack_filter      = "aggressive" # thin out ACKs: they crowd a 1 Mbit/s uplink
    }
  }

  thresholds {
    # Serialisation alone adds a few ms at 1 Mbit/s: a little more slack.
    target_bloat = "20ms"
    warn_bloat   = "60ms"
  }
}
