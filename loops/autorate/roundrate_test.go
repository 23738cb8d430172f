package autorate

import (
	"strconv"
	"testing"
)

func TestRoundRate(t *testing.T) {
	for _, c := range []struct{ in, want int64 }{
		{0, 0},
		{999, 999},
		{1_234, 1_230},
		{12_345, 12_300},
		{12_350, 12_400}, // half up
		{999_600, 1_000_000},
		{37_549_999, 37_500_000},
		{37_550_000, 37_600_000},
		{902_437_000, 902_000_000},
		{1_234_567_890, 1_230_000_000},
		{940_000_000, 940_000_000},
	} {
		t.Run(strconv.FormatInt(c.in, 10), func(t *testing.T) {
			if got := RoundRate(c.in); got != c.want {
				t.Errorf("RoundRate(%d) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}
