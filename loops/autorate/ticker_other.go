//go:build !linux

package autorate

import (
	"errors"
	"time"
)

// startTimerfd: no timerfd outside Linux; the tickers use a time.Ticker.
func startTimerfd(time.Duration, func(time.Time)) (func(), error) {
	return nil, errors.ErrUnsupported
}
