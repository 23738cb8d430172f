package autorate

// judge sets d's zone from the queue and counts its streaks
// (docs/autorate.md, "Zones").
func (c *Controller) judge(d *direction) {
	x, p := c.leg(d).queue, &c.p
	if x > p.target {
		d.yellowStreak++
	} else {
		d.yellowStreak = 0
	}
	switch {
	case !d.p.upload && x > p.hardRed, d.p.upload && x > p.warn:
		d.zone = Red
	case !d.p.upload && x > p.warn:
		d.zone = SoftRed
	case x > p.target:
		// GREEN enters YELLOW only after the dwell; a worse zone lands there.
		if d.zone != Green || d.yellowStreak >= p.dwell {
			d.zone = Yellow
		}
	case d.zone != Green && x >= p.target-p.deadband:
		d.zone = Yellow
	default:
		d.zone = Green
	}
	if d.zone == Green && x <= p.target {
		d.greenStreak++
	} else {
		d.greenStreak = 0
	}
}
