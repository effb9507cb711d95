package classify

import "strings"

// Cues: classes of words and tokens that say what a sentence does rather
// than what it is about. A planted instruction of a family the model has
// never seen still addresses the reader or the assistant, asks for an
// action, points at a link, a path or an address; the words of its topic
// are new, these classes are not. The segment model reads them (with its
// context: alone in a document that does not speak to the reader) and so
// does the whole-text classifier, so that neither leans on the vocabulary
// of the attack families it was trained on.

// Word classes.
const (
	cueAI       = 1 << iota // the assistant, the model, the agent
	cueUser                 // the user, the reader, the customer
	cueTell                 // tell, inform, recommend, remind
	cueGo                   // visit, click, open, download, sign in
	cueSend                 // send, upload, include, render, reveal
	cueModal                // must, always, immediately, instead
	cuePlease               // please, kindly, bitte
	cueSecret               // password, token, key, credentials
	cueChat                 // conversation, reply, answer, history
	cueYou                  // second person
	cueURL                  // a link
	cueQueryURL             // a link carrying parameters
	cueMdImage              // a Markdown image
	cueMdLink               // a Markdown link
	cueMail                 // an e-mail address
	cuePath                 // a file path in a home or system directory
	cueTalk                 // words of a text about attacks: attacker, example, injection
	cueMeta                 // the reader's own instructions: prompt, rules, above, previous
	cueYourOut              // the reader's own output: "your reply", "your answer"
	numCues     = iota
)

var cueNames = [numCues]string{"ai", "user", "tell", "go", "send", "modal", "please", "secret", "chat", "you", "url", "qurl", "mdimg", "mdlink", "mail", "path", "talk", "meta", "yourout"}

// wordCue returns the class of a lowercased word, or 0.
func wordCue(w string) int {
	switch w {
	case "assistant", "assistants", "ai", "llm", "model", "agent", "chatbot", "bot", "gpt", "chatgpt", "claude", "copilot", "gemini",
		"assistent", "ki", "modell", "assistente", "asistente", "ia", "modèle", "modelo", "agente", "ассистент", "модель", "ии":
		return cueAI
	case "user", "users", "reader", "readers", "customer", "customers", "visitor", "recipient",
		"nutzer", "benutzer", "utilisateur", "usuario", "usuário", "utente", "пользователь", "пользователю", "пользователя":
		return cueUser
	case "tell", "inform", "notify", "warn", "remind", "advise", "recommend", "suggest", "urge", "encourage", "redirect", "instruct",
		"convince", "persuade", "mention", "claim", "promote", "endorse",
		"sage", "informiere", "empfiehl", "dites", "informez", "recommandez", "dile", "informa", "recomienda", "diga", "recomende":
		return cueTell
	case "visit", "click", "open", "navigate", "download", "install", "login", "verify", "register", "subscribe", "buy", "purchase", "order",
		"besuche", "besuchen", "klicke", "klicken", "öffne", "visitez", "cliquez", "ouvrez", "visita", "haz", "abre", "clique", "acesse":
		return cueGo
	case "send", "post", "upload", "forward", "share", "transmit", "submit", "exfiltrate", "leak", "attach", "append", "embed", "encode",
		"render", "reveal", "output", "print", "insert",
		"sende", "schicke", "lade", "envoie", "envoyez", "envía", "envia", "sube", "отправь", "отправьте", "пришли":
		return cueSend
	case "must", "should", "shall", "required", "mandatory", "always", "never", "immediately", "urgent", "urgently", "instead", "important",
		"muss", "müssen", "sofort", "immer", "doit", "devez", "toujours", "debe", "debes", "siempre", "deve", "должен", "должны":
		return cueModal
	case "please", "kindly", "bitte", "svp", "favor", "пожалуйста":
		return cuePlease
	case "password", "passwords", "credential", "credentials", "token", "tokens", "secret", "secrets", "cookie", "cookies", "ssh", "apikey",
		"passwort", "kennwort", "mot", "contraseña", "senha", "пароль":
		return cueSecret
	case "attacker", "attackers", "adversary", "malicious", "injection", "injections", "jailbreak", "jailbreaks", "payload", "payloads",
		"example", "examples", "e", "eg", "such", "researchers", "vulnerability", "exploit", "exploits", "cve", "attack", "attacks", "phishing",
		"angreifer", "beispiel", "attaquant", "exemple", "atacante", "ejemplo", "exemplo", "злоумышленник", "например", "攻击者", "例如", "攻撃者":
		return cueTalk
	case "prompt", "instructions", "instruction", "rules", "guidelines", "directives", "above", "previous", "earlier", "prior", "verbatim", "system",
		"anweisungen", "systemprompt", "regeln", "vorherigen", "consignes", "règles", "précédentes", "instrucciones", "reglas", "anteriores", "instruções",
		"инструкции", "правила", "промпт", "指令", "提示", "指示":
		return cueMeta
	case "conversation", "chat", "history", "reply", "response", "answer", "answers", "responses", "summary", "summaries", "message",
		"antwort", "réponse", "respuesta", "resposta", "ответ", "ответе":
		return cueChat
	case "you", "your", "yours", "yourself", "du", "dein", "deine", "vous", "votre", "tu", "ton", "ta", "usted", "ты", "вы", "твой", "ваш":
		return cueYou
	}
	return 0
}

// imperative reports whether w is a verb that starts an order, besides
// those of the word classes.
func imperative(w string) bool {
	switch w {
	case "repeat", "show", "display", "write", "list", "give", "provide", "return", "ignore", "forget", "disregard", "stop", "run", "execute",
		"delete", "remove", "create", "change", "call", "answer", "respond", "reply", "say", "describe", "explain", "summarize", "translate",
		"copy", "read", "fetch", "grant", "approve", "enable", "disable", "act", "pretend", "follow", "obey", "confirm", "tell",
		"gib", "zeige", "ignoriere", "vergiss", "führe", "lösche", "schreibe", "affiche", "oublie", "exécute", "supprime", "écris",
		"muestra", "ignora", "olvida", "ejecuta", "borra", "escribe", "mostre", "esqueça", "apague", "покажи", "игнорируй", "забудь",
		"выполни", "удали", "напиши":
		return true
	}
	return false
}

// tokenCues returns the classes of the tokens of a view (links, addresses,
// paths) that its words do not show.
func tokenCues(v string) int {
	c := 0
	high := false
	// One pass over the bytes for the markers of links, Markdown, addresses
	// and paths.
	for i := 0; i < len(v); i++ {
		rest := v[i:]
		switch v[i] {
		case ':':
			if strings.HasPrefix(rest, "://") {
				c |= cueURL
				if u, _, _ := strings.Cut(rest, " "); strings.IndexByte(u, '?') >= 0 && strings.IndexByte(u, '=') >= 0 {
					c |= cueQueryURL
				}
			}
		case 'w':
			if strings.HasPrefix(rest, "www.") {
				c |= cueURL
			}
		case '!':
			if strings.HasPrefix(rest, "![") {
				c |= cueMdImage
			}
		case ']':
			if strings.HasPrefix(rest, "](") {
				c |= cueMdLink
			}
		case '@':
			if i > 0 && i+1 < len(v) && isWordByte(v[i-1]) && isWordByte(v[i+1]) && strings.IndexByte(rest, '.') >= 0 {
				c |= cueMail
			}
		case '~':
			if strings.HasPrefix(rest, "~/") {
				c |= cuePath
			}
		case '/':
			if strings.HasPrefix(rest, "/etc/") || strings.HasPrefix(rest, "/home/") || strings.HasPrefix(rest, "/root/") {
				c |= cuePath
			}
		case '.':
			if strings.HasPrefix(rest, ".ssh") || strings.HasPrefix(rest, ".env") || strings.HasPrefix(rest, ".aws") {
				c |= cuePath
			}
		case '\\':
			if i > 1 && v[i-1] == ':' && v[i-2] == 'c' {
				c |= cuePath
			}
		case '%':
			if strings.HasPrefix(rest, "%appdata%") {
				c |= cuePath
			}
		case '$':
			if strings.HasPrefix(rest, "$home") {
				c |= cuePath
			}
		default:
			if v[i] >= 0x80 {
				high = true
			}
		}
	}
	if strings.Contains(v, "s'il vous") || strings.Contains(v, "por favor") {
		c |= cuePlease
	}
	if !high {
		return c
	}
	if strings.Contains(v, "请") || strings.Contains(v, "ください") {
		c |= cuePlease
	}
	if strings.Contains(v, "你") || strings.Contains(v, "您") || strings.Contains(v, "あなた") {
		c |= cueYou
	}
	if strings.Contains(v, "助手") || strings.Contains(v, "模型") || strings.Contains(v, "アシスタント") || strings.Contains(v, "モデル") {
		c |= cueAI
	}
	if strings.Contains(v, "用户") || strings.Contains(v, "ユーザー") {
		c |= cueUser
	}
	return c
}

// CueSet is the set of cue classes of a view, and whether it starts with an
// action word (an imperative).
type CueSet struct {
	Bits       int
	Imperative bool
}

// Cues returns the cue classes of a view split into words.
func Cues(v string, words []string) CueSet {
	var s CueSet
	first := true
	for i, w := range words {
		if i > 60 {
			break
		}
		c := wordCue(w)
		s.Bits |= c
		if c == cueChat && i > 0 {
			switch words[i-1] {
			case "your", "ton", "ta", "votre", "dein", "deine", "deiner", "ihre", "ihrer", "tu", "su", "seu", "sua", "твой", "ваш":
				s.Bits |= cueYourOut
			}
		}
		if first {
			switch w {
			case "important", "note", "attention", "notice", "urgent", "ai", "assistant", "hi", "hello", "dear", "hey", "wichtig", "achtung", "atención", "importante", "please", "kindly", "bitte", "also", "now", "then", "and":
				continue // a lead-in: the verb comes next
			}
			first = false
			s.Imperative = c&(cueTell|cueGo|cueSend) != 0 || imperative(w)
		}
	}
	s.Bits |= tokenCues(v)
	return s
}

// names calls f with the name of each cue of s.
func (s CueSet) names(f func(string)) {
	for i := 0; i < numCues; i++ {
		if s.Bits&(1<<i) != 0 && 1<<i&quietCues == 0 {
			f(cueNames[i])
		}
	}
	if s.Imperative {
		f("imp")
	}
}

// quietCues are classes common in ordinary mail and prose (please, you,
// must, reply): they count only through the context features.
const quietCues = cueYou | cueChat | cuePlease | cueModal | cueAI | cueTell

// strength is how many kinds of cue a segment shows, capped.
func (s CueSet) strength() int {
	n := 0
	for b := s.Bits &^ (quietCues | cueURL | cueMdLink); b != 0; b &= b - 1 {
		n++
	}
	if s.Imperative {
		n++
	}
	return min(n, 4)
}
