package autorate

// judge sets d's zone from the queue and counts its streaks
// (docs/autorate.md, "Zones").
func (c *Controller) judge(d *direction) {
	d.zone = c.zoneFor(d)
	if d.zone == Green && c.queue <= c.p.target {
		d.greenStreak++
	} else {
		d.greenStreak = 0
	}
}

// zoneFor applies thresholds, dwell and deadband to the queue.
func (c *Controller) zoneFor(d *direction) Zone {
	x := c.queue
	if x > c.p.target {
		d.yellowStreak++
	} else {
		d.yellowStreak = 0
	}
	switch {
	case !d.p.upload && x > c.p.hardRed:
		return Red
	case d.p.upload && x > c.p.warn:
		return Red
	case !d.p.upload && x > c.p.warn:
		return SoftRed
	case x > c.p.target:
		// GREEN enters YELLOW only after the dwell; a worse zone improving
		// lands in YELLOW at once.
		if d.zone == Green && d.yellowStreak < c.p.dwell {
			return Green
		}
		return Yellow
	case d.zone != Green && x >= c.p.target-c.p.deadband:
		return Yellow
	default:
		return Green
	}
}
