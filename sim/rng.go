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

// jitterDraw is one echo's random delay (s) of the given mean. Each
// distribution takes a fixed number of draws (exponential and Pareto one,
// lognormal two), so the stream stays aligned however the values fall.
func jitterDraw(r *rand.Rand, dist JitterDist, mean float64) float64 {
	switch dist {
	case JitterPareto:
		// Lomax with shape a and scale (a-1)*mean: mean `mean`, density
		// from 0 with a power-law tail.
		const a = 2.5
		return (a - 1) * mean * (math.Pow(1-r.Float64(), -1/a) - 1)
	case JitterLognormal:
		// Box-Muller: exactly two uniforms. exp(mu + sigma z) has mean
		// exp(mu + sigma²/2) = mean.
		const sigma = 1.0
		u1, u2 := 1-r.Float64(), r.Float64()
		z := math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*u2)
		return mean * math.Exp(sigma*z-sigma*sigma/2)
	}
	return expDraw(r, mean)
}
