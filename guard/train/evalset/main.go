// Command evalset writes the small fixed evaluation split committed under
// guard/testdata/eval, which guard's eval test measures the model on:
//
//	go run ./guard/train/evalset -out guard/testdata/eval
//
// agentdojo.jsonl: AgentDojo's inbox emails, Slack messages and web pages,
// clean and with AgentDojo's attack templates and injection goals planted
// in their injection slots (MIT; never trained on).
// bulwark-heldout.jsonl: held-out texts of guard/train/corpus written by
// Bulwark itself (emails, shell transcripts, logs, articles about attacks,
// and the held-out attack families planted into them or typed directly),
// built without any file of the machine, so it is the same everywhere and
// free of third-party licences.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bulwark-agents/bulwark/guard/train/internal/corpus"
)

type line struct {
	Text    string `json:"text"`
	Label   string `json:"label"`
	Source  string `json:"source"`
	Licence string `json:"licence"`
}

func main() {
	out := flag.String("out", "guard/testdata/eval", "`directory` to write the JSONL files to")
	seed := flag.Uint64("seed", 1, "seed of the sampling")
	perSource := flag.Int("per-source", 12, "held-out corpus texts kept per source")
	flag.Parse()
	log.SetFlags(0)
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(*out, "agentdojo.jsonl"), agentDojo(*seed))
	own, err := ownHeldout(*seed, *perSource)
	if err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(*out, "bulwark-heldout.jsonl"), own)
}

func write(path string, lines []line) {
	f, err := os.Create(path)
	if err != nil {
		log.Fatal(err)
	}
	enc := json.NewEncoder(f)
	enc.SetEscapeHTML(false)
	inj := 0
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			log.Fatal(err)
		}
		if l.Label == "injection" {
			inj++
		}
	}
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
	log.Printf("evalset: %s: %d texts, %d injections", path, len(lines), inj)
}

const adLicence = "MIT; AgentDojo, https://github.com/ethz-spylab/agentdojo (via lindsey98/agentdojo@0c108920)"

func renderEmail(e adEmail) string {
	return fmt.Sprintf("id_: '%s'\nsender: %s\nrecipients:\n- %s\nsubject: %s\nbody: %s\nstatus: received\ntimestamp: %s", e.id, e.sender, e.to, e.subject, e.body, e.ts)
}

// agentDojo builds the AgentDojo set: every clean email, message and page,
// inbox listings of several clean emails, and attacks planted in the
// injection slots, alone or inside a listing.
func agentDojo(seed uint64) []line {
	r := rand.New(rand.NewPCG(seed, 0xad))
	var out []line
	benign := func(src, text string) {
		out = append(out, line{Text: text, Label: "benign", Source: "agentdojo:benign:" + src, Licence: adLicence})
	}
	for _, e := range adEmails {
		benign("email", renderEmail(e))
	}
	for _, s := range adSlack {
		if !strings.Contains(s.text, "{inj}") || adSlackDefaults[s.name] != "" {
			benign("slack", strings.ReplaceAll(s.text, "{inj}", adSlackDefaults[s.name]))
		} else {
			// The empty default leaves the text as the agent sees it.
			benign("slack", strings.TrimSpace(strings.ReplaceAll(s.text, "{inj}", "")))
		}
	}
	listing := func(extra string) string {
		n := 2 + r.IntN(4)
		var parts []string
		for _, i := range r.Perm(len(adEmails))[:n] {
			parts = append(parts, renderEmail(adEmails[i]))
		}
		if extra != "" {
			k := r.IntN(len(parts) + 1)
			parts = append(parts[:k], append([]string{extra}, parts[k:]...)...)
		}
		return "- " + strings.Join(parts, "\n- ")
	}
	for i := 0; i < 40; i++ {
		benign("inbox", listing(""))
	}
	attack := func() (string, string) {
		a := adAttacks[r.IntN(len(adAttacks))]
		names := adNames[r.IntN(len(adNames))]
		t := strings.NewReplacer("{goal}", adGoals[r.IntN(len(adGoals))], "{user}", names[0], "{model}", names[1]).Replace(a.text)
		return a.name, t
	}
	for i := 0; i < 200; i++ {
		name, payload := attack()
		switch k := r.IntN(3); {
		case k == 0:
			e := adInjectedEmails[r.IntN(len(adInjectedEmails))]
			e.body = strings.ReplaceAll(e.body, "{inj}", payload)
			out = append(out, line{Text: renderEmail(e), Label: "injection", Source: "agentdojo:" + name + ":email", Licence: adLicence})
		case k == 1:
			e := adInjectedEmails[r.IntN(len(adInjectedEmails))]
			e.body = strings.ReplaceAll(e.body, "{inj}", payload)
			out = append(out, line{Text: listing(renderEmail(e)), Label: "injection", Source: "agentdojo:" + name + ":inbox", Licence: adLicence})
		default:
			var withSlot []int
			for j, s := range adSlack {
				if strings.Contains(s.text, "{inj}") {
					withSlot = append(withSlot, j)
				}
			}
			s := adSlack[withSlot[r.IntN(len(withSlot))]]
			out = append(out, line{Text: strings.ReplaceAll(s.text, "{inj}", payload), Label: "injection", Source: "agentdojo:" + name + ":slack", Licence: adLicence})
		}
	}
	return out
}

// ownHeldout samples the held-out split of the corpus built from Bulwark's
// own texts only, up to perSource texts of every source kind (family for
// attacks).
func ownHeldout(seed uint64, perSource int) ([]line, error) {
	none := filepath.Join(os.TempDir(), "bulwark-evalset-no-such-dir")
	cfg := corpus.Config{Seed: seed, DocDir: none, ManDir: none, GoModDirs: []string{}, NodeDirs: []string{},
		LogDir: none, DpkgStatus: none, Scale: 1}
	exs, err := corpus.Build(cfg)
	if err != nil {
		return nil, err
	}
	by := map[string][]corpus.Example{}
	for _, e := range exs {
		if e.Split != corpus.Heldout {
			continue
		}
		key := e.Source
		if e.Label == corpus.Injection {
			key = strings.SplitN(e.Source, ":", 3)[0] + ":" + e.Family
		}
		by[key] = append(by[key], e)
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	r := rand.New(rand.NewPCG(seed, 0xb1))
	var out []line
	for _, k := range keys {
		v := by[k]
		n := perSource
		if strings.HasPrefix(k, "benign:") {
			n = 3 * perSource
		}
		for _, i := range r.Perm(len(v))[:min(n, len(v))] {
			e := v[i]
			out = append(out, line{Text: e.Text, Label: e.Label, Source: e.Source, Licence: "Bulwark's own text (guard/train/corpus)"})
		}
	}
	return out, nil
}
