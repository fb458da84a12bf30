package main

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"
)

var firstNames = strings.Fields(`Andrea Marco Giulia Francesca Luca Sofia Matteo Chiara Alessandro Sara
Lorenzo Martina Davide Elena Simone Valentina Federico Alice Riccardo Laura Gabriele Anna Tommaso
Beatrice Stefano Camilla Paolo Ilaria Giorgio Marta Pietro Elisa Nicola Silvia Daniele Federica
Emma Olivia Liam Noah Ava Isabella Mia Amelia Harper Evelyn James Oliver Benjamin Elijah Lucas
Mason Logan Ethan Jacob Michael Daniel Henry Jackson Sebastian Aiden Matthew Samuel David Joseph
Carter Owen Wyatt John Jack Luke Jayden Dylan Grayson Levi Isaac Gavin Julian Hannah Lily Zoe Nora
Riley Aria Layla Chloe Ellie Grace Victoria Scarlett Madison Luna Penelope Aubrey Stella Natalie
Hiroshi Yuki Haruto Sakura Wei Jing Mei Priya Arjun Ananya Rohan Fatima Omar Layla Youssef Amira
Mateo Valentina Santiago Camila Diego Lucia Javier Carmen Pablo Elena Ines Hugo Clara Louis Chloe
Jules Manon Lea Theo Nathan Ingrid Lars Astrid Sven Freya Olaf Greta Niko Katarina Ivan Olga Dmitri`)

var lastNames = strings.Fields(`Rossi Russo Ferrari Esposito Bianchi Romano Colombo Ricci Marino Greco
Bruno Gallo Conti DeLuca Mancini Costa Giordano Rizzo Lombardi Moretti Barbieri Fontana Santoro
Mariani Rinaldi Caruso Ferrara Galli Martini Leone Longo Gentile Martinelli Vitale Lombardo Serra
Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez
Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark
Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams
Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Muller Schmidt Schneider Fischer Weber
Meyer Wagner Becker Schulz Hoffmann Dubois Durand Lefebvre Moreau Laurent Simon Michel Garnier
Tanaka Suzuki Takahashi Watanabe Yamamoto Nakamura Kobayashi Sato Wang Li Zhang Liu Chen Yang Huang
Patel Sharma Singh Kumar Gupta Khan Ali Ahmed Hassan Ibrahim Silva Santos Oliveira Souza Pereira`)

var companies = strings.Fields(`Acme Globex Initech Umbrella Hooli Vandelay Stark Wayne Wonka Tyrell
Cyberdyne Soylent Aperture BlackMesa Oscorp Gringotts Monarch Dunder Prestige Massive Gekko Virtucon
Nakatomi Sirius Zorg Weyland Spacely Cogswell Kramerica Bluth Pied Sterling Rekall Omni Abstergo`)

var domains = []string{"gmail.com", "yahoo.com", "outlook.com", "example.com", "proton.me", "libero.it", "icloud.com", "acme.io"}

// person is the synthetic contact number n: deterministic, so every phase of
// a run (and the raw baselines) can rebuild the same one from its number.
type person struct {
	n                      int
	userID                 string
	first, last            string
	fullname, email, phone string
	company                string
}

func mix(n int, salt uint64) uint64 {
	h := fnv.New64a()
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(n))
	binary.LittleEndian.PutUint64(b[8:], salt)
	h.Write(b[:])
	return h.Sum64()
}

func personN(n int, seed uint64) person {
	h := mix(n, seed)
	first := firstNames[h%uint64(len(firstNames))]
	last := lastNames[(h>>16)%uint64(len(lastNames))]
	p := person{n: n, first: first, last: last, fullname: first + " " + last,
		email:   fmt.Sprintf("%s.%s%d@%s", strings.ToLower(first), strings.ToLower(last), n, domains[(h>>32)%uint64(len(domains))]),
		phone:   fmt.Sprintf("+39 3%02d %07d", (h>>8)%100, (h>>24)%10000000),
		company: companies[(h>>40)%uint64(len(companies))]}
	// A random-looking UUID, as the chat widget gives anonymous visitors.
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], mix(n, seed^0x9e3779b97f4a7c15))
	binary.LittleEndian.PutUint64(u[8:], mix(n, seed^0xc2b2ae3d27d4eb4f))
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	s := hex.EncodeToString(u[:])
	p.userID = s[:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:]
	return p
}

type leadJSON struct {
	UserID     string         `json:"user_id,omitempty"`
	Fullname   string         `json:"fullname,omitempty"`
	Email      string         `json:"email,omitempty"`
	Phone      string         `json:"phone,omitempty"`
	Company    string         `json:"company,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

func (p person) lead(withUserID bool) leadJSON {
	l := leadJSON{Fullname: p.fullname, Email: p.email, Phone: p.phone, Company: p.company,
		Attributes: map[string]any{"plan": []string{"free", "pro", "team"}[p.n%3], "source": "import"}}
	if withUserID {
		l.UserID = p.userID
	}
	return l
}

// ingestBody is the POST /requests body of request i from person p: the
// chat widget sends the visitor's fields along with every conversation.
func ingestBody(p person, i int) []byte {
	b, _ := json.Marshal(map[string]any{
		"user_id":    p.userID,
		"channel":    "web",
		"first_text": fmt.Sprintf("Hello, I have a question about my order %d", i),
		"attributes": map[string]any{"page": "/pricing", "utm_source": "newsletter"},
		"lead": map[string]any{"fullname": p.fullname, "email": p.email,
			"attributes": map[string]any{"plan": []string{"free", "pro", "team"}[p.n%3]}},
	})
	return b
}

// prefixes are the search terms for person n: three letters of the first
// name, and of the last name.
func prefixes(p person) (string, string) {
	cut := func(s string) string { return strings.ToLower(s[:min(3, len(s))]) }
	return cut(p.first), cut(p.last)
}
