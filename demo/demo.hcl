# The configuration `wanctl demo` applies to its built-in RouterOS emulator.
# Two WANs on one router: "cable" (fast, congests) and "fibre" (slower,
# steady). The demo's link simulator plays the traffic; nothing here is
# pinged for real.

router "demo" {
  url          = "{{URL}}"
  username     = "wanctl"
  password     = env("WANCTL_DEMO_PASSWORD")
  host_address = "192.168.88.10"
}

daemon {
  state_dir = "{{DIR}}/state"
  lock_dir  = "{{DIR}}/run"
  listen    = "127.0.0.1:0"
}

wan "cable" {
  interface = "ether1"
  gateway   = "100.64.0.1"

  measurement {
    reflectors = ["1.1.1.1", "8.8.8.8", "9.9.9.9", "208.67.222.222"]
  }

  download {
    ceiling = "450M"
  }

  upload {
    ceiling = "45M"
  }
}

wan "fibre" {
  interface = "ether2"
  gateway   = "192.168.1.254"

  measurement {
    reflectors = ["1.0.0.1", "8.8.4.4", "149.112.112.112", "208.67.220.220"]
  }

  download {
    ceiling = "90M"
  }

  upload {
    ceiling = "18M"
  }
}

steering {
  primary   = "cable"
  alternate = "fibre"

  rule "voip" {
    protocol  = "udp"
    dst_ports = "3478-3481,5060"
  }

  rule "interactive" {
    dscp = ["ef", "cs4"]
  }

  thresholds {
    # The demo is short: follow the delay faster and give the primary back
    # after 4 s of GREEN.
    rtt_ewma_alpha = 0.7
    green_samples  = 2
    # Queued packets: CAKE holds about 5 ms at the shaper rate, ~190 full
    # packets at 450 Mbit/s, without anything being wrong. Scale these with
    # the link (the defaults, 10 and 50, suit about 25 Mbit/s).
    queue_yellow = 250
    queue_red    = 500
  }
}
