package sim

import (
	"hash/fnv"
	"math"
	"math/rand/v2"
)

// newRand returns a generator for one purpose ("lte/download", "pings")
// of a seed: every purpose has its own stream, so adding a random draw in
// one place never shifts the numbers of another.
func newRand(seed int64, purpose string) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(purpose))
	return rand.New(rand.NewPCG(uint64(seed), h.Sum64()))
}

// expDraw is an exponential variate with the given mean.
func expDraw(r *rand.Rand, mean float64) float64 {
	return -math.Log1p(-r.Float64()) * mean
}
