package cli

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
)

// Generated names read like docker's: adjective_surname.
var (
	nameAdjectives = []string{"brave", "calm", "clever", "eager", "fancy", "gentle", "happy", "jolly",
		"keen", "lucid", "merry", "nifty", "proud", "quirky", "sharp", "stoic", "tender", "vivid", "wise", "zen"}
	nameSurnames = []string{"babbage", "curie", "dijkstra", "euler", "fermi", "gauss", "hopper", "kepler",
		"lamport", "lovelace", "noether", "pascal", "ritchie", "shannon", "thompson", "turing", "wozniak"}
)

func generateName(taken func(string) bool) string {
	for i := 0; ; i++ {
		n := pickWord(nameAdjectives) + "_" + pickWord(nameSurnames)
		if i > 20 {
			n += fmt.Sprint(i)
		}
		if !taken(n) {
			return n
		}
	}
}

func pickWord(words []string) string {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(len(words))))
	if err != nil {
		panic(err)
	}
	return words[i.Int64()]
}

// validName is docker's rule for container names.
var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
