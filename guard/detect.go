package guard

import (
	"regexp"
	"sort"
	"strings"

	"github.com/bulwark-agents/bulwark/internal/lazy"
)

// A rule is one pattern of a detector. Patterns match the detector view
// (normalized, lowercased, spaces collapsed); a rule runs only when its
// text contains one of its cue strings, which keeps Score fast on text
// that has none.
type rule struct {
	detector string  // the detector it belongs to, named in Reasons
	weight   float64 // the score a match gives on its own
	cues     []string
	re       *regexp.Regexp
}

// Detector names, as they appear in Result.Reasons.
const (
	DetectOverride   = "instruction-override"
	DetectPersona    = "persona-switch"
	DetectExtraction = "prompt-extraction"
	DetectTemplate   = "chat-template"
	DetectRoleHeader = "role-header"
	DetectExfil      = "exfiltration-link"
	DetectSecrets    = "secret-request"
	DetectAddressed  = "addressed-to-ai"
	DetectHidden     = "hidden-text"
	DetectHarmful    = "harmful-action"
)

const (
	verbsIgnore  = `(?:ignore|disregard|forget|skip|bypass|override|overlook|neglect|abandon|set aside|throw away|throw out|discard|erase|drop|stop following|do not follow|don't follow|no longer follow)`
	whatRules    = `(?:instructions?|prompts?|directions?|directives?|rules|guidelines|guidance|commands?|orders|constraints|restrictions|programming|polic(?:y|ies)|messages?|context|conversation|training|safeguards|filters|system prompt)`
	strongRules  = `(?:\w{0,2}nstructions?|directions?|directives?|rules|guidelines|guidance|programming|safeguards|restrictions|system prompts?)`
	strongWhich  = `(?:previous|prior|preceding|above|earlier|initial|original|your|system|developer|safety|ethical)`
	whichRules   = `(?:previous|prior|preceding|above|earlier|initial|original|old|all|any|every|your|the|these|those|system|developer|existing|current|given|former|default|safety|ethical|content)`
	aiNames      = `(?:ai|a\.i\.|assistant|agent|llm|chatbot|bot|language model|model|gpt|chatgpt|claude|gemini|copilot|bard|llama)`
	secretThings = `(?:api[ _-]?keys?|secret(?:s| keys?| tokens?)?|passwords?|passphrases?|credentials?|access tokens?|auth(?:entication)? tokens?|bearer tokens?|session (?:cookies?|tokens?)|private keys?|ssh keys?|\.env\b|id_rsa|aws_secret_access_key|openai_api_key|anthropic_api_key)`
	envThings    = `(?:env(?:ironment)? var(?:iable)?s?|environment|env)`
	sendVerbs    = `(?:send|post|upload|forward|email|e-mail|transmit|exfiltrate|leak|submit|deliver|report|share|paste|copy)`
)

// rules are compiled on first use, not at init: most processes that link
// the guard never score a text.
var rules = lazy.Value[[]rule]{New: func() []rule {
	return []rule{
		// Instruction override. Words such as "prompt" or "messages" are
		// everyday words in manuals ("skip the prompt", "ignore the messages
		// about ..."), so they count only after a word that points back at
		// earlier instructions ("previous", "your", "system").
		{DetectOverride, 0.9, []string{"ignor", "disregard", "forget", "skip", "bypass", "overrid", "overlook", "neglect", "abandon", "aside", "throw", "discard", "erase", "drop", "follow"},
			regexp.MustCompile(verbsIgnore + `[\s+]+(?:[\w']+[\s+]+){0,3}?(?:` + whichRules + `[\s+]+(?:[\w']+[\s+]+){0,2}?` + strongRules +
				`|` + strongWhich + `[\s+]+(?:[\w']+[\s+]+){0,2}?` + whatRules + `)\b`)},
		{DetectOverride, 0.75, []string{"instruction", "task", "objective", "goal", "directive", "order"},
			regexp.MustCompile(`\b(?:new|updated|real|true|actual|revised|secret|hidden|additional|override|priority|urgent|important)\s+(?:system\s+)?(?:instructions?|tasks?|objectives?|goals?|directives?|orders)\s*(?::|-|are\b|is\b|follow)`)},
		{DetectOverride, 0.6, []string{"from now on", "from this point", "henceforth", "starting now"},
			regexp.MustCompile(`\b(?:from now on|from this point (?:on|forward)|henceforth|starting now),? (?:you|your|i want you|act|respond|answer|reply|only|always|never|do not|don't)\b`)},
		{DetectOverride, 0.7, []string{"instead"},
			regexp.MustCompile(`(?:(?:^|[.;:!?]\s*|\band\s+|\bbut\s+)instead,?|\binstead of [^.\n]{0,40},)\s*(?:you (?:must|should|will|need to)|do the following|respond with|reply with|output|say|write|print|execute|run)\b`)},
		{DetectOverride, 0.8, []string{"the user"},
			regexp.MustCompile(`\b(?:do not|don't|never|without) (?:tell(?:ing)?|inform(?:ing)?|notify(?:ing)?|mention(?:ing)?|alert(?:ing)?|reveal(?:ing)? (?:this|it) to|let(?:ting)? (?:on to )?)(?: this| it| anything)? (?:to )?the user\b`)},

		// Instruction override in other languages: the same act (ignore
		// or forget the earlier instructions), spelled as people write it
		// in German, French, Spanish, Portuguese, Italian, Dutch, Russian,
		// Chinese, Japanese and Korean. Go's \b and \w know ASCII only, so
		// words are \pL runs.
		{DetectOverride, 0.9, []string{"ignor", "vergiss", "vergessen", "missacht", "oubli", "tenez pas compte", "tiens pas compte", "olvid", "esque", "desconsider", "dimentica", "trascura", "negeer", "vergeet"},
			regexp.MustCompile(`(?:ignorier\pL*|vergiss|vergessen sie|missachte\pL*|ignore[zr]?|oublie[zr]?|ne tene?z? pas compte d[eu]s?|ne tiens pas compte d[eu]s?|ignora[rd]?|olvid[ae]r?|esque[cç]\pL*|desconsider\pL*|dimentica|trascura|negeer|vergeet)\s+(?:[\pL'’]+\s+){0,3}?` +
				`(?:alle[nrs]?|sämtliche[n]?|deine|ihre|die|vorherigen?|bisherigen?|obigen?|vorigen?|toutes?|les|vos|tes|précédentes?|todas?|las|tus|sus|as|suas|tuas|anteriores|tutte|le|tue|precedenti|de|je|vorige)\s+(?:[\pL'’]+\s+){0,2}?` +
				`(?:anweisungen|instruktionen|befehle|regeln|vorgaben|anordnungen|instructions|consignes|règles|directives|instrucciones|instruções|indicaciones|reglas|regras|órdenes|ordens|directrices|diretrizes|istruzioni|regole|indicazioni|instructies|regels|opdrachten)`)},
		{DetectOverride, 0.85, []string{"vergiss", "vergessen", "ignorier", "oubli", "olvid", "esque", "dimentica", "vergeet", "negeer"},
			regexp.MustCompile(`(?:vergiss|vergessen sie|ignoriere?|oublie[zr]?|olvid[ae]|esque[cç]\pL*|dimentica|vergeet|negeer)\s+(?:alles|das alles|tout|todo|tudo|tutto|alles wat)\s+(?:davor|zuvor|vorher|bisher\pL*|oben|obige|gesagte|ce qui précède|ce que je t'ai dit|précédent|lo anterior|lo de antes|anterior|o que foi dito|quanto detto|sopra|hiervoor|hierboven)`)},
		// Russian, folded as Normalize folds Cyrillic look-alikes of Latin
		// letters (а is a, о is o), so that it matches the view it reads.
		{DetectOverride, 0.9, foldAll("игнор", "проигнор", "забудь", "не обращай"),
			regexp.MustCompile(foldConfusables(`(?:игнорируй(?:те)?|проигнорируй(?:те)?|забудь(?:те)?|не обращай(?:те)? внимания на)\s+(?:\S+\s+){0,3}?(?:все|всё|предыдущие|прошлые|свои|ваши|твои|эти|данные|системные)\s+(?:\S+\s+){0,2}?(?:инструкции|указания|правила|команды|ограничения|промпт\pL*)|(?:забудь(?:те)?|игнорируй(?:те)?) (?:всё|все) (?:что было )?(?:выше|раньше|до этого|сказанное)`))},
		{DetectOverride, 0.9, []string{"忽略", "无视", "忘记", "忘掉", "不要理会", "無視", "忘れ", "무시", "잊어"},
			regexp.MustCompile(`(?:忽略|无视|忘记|忘掉|不要理会|忽視|無視)[^。\n]{0,10}(?:之前|以前|上面|先前|前面|所有|全部|上述)[^。\n]{0,8}(?:指令|指示|说明|說明|规则|規則|命令|提示|要求)|` +
				`(?:以前|これまで|前|上記|上|先ほど|すべて|全て)の[^。\n]{0,10}(?:指示|命令|ルール|指令|プロンプト)[^。\n]{0,6}(?:無視|忘れ)|` +
				`(?:이전|위의|앞의|모든)[^.\n]{0,10}(?:지시|명령|규칙|지침)[^.\n]{0,6}(?:무시|잊어)`)},
		// "Forget the above" and "you are now ... without filters" in
		// other languages, the shapes typed attacks take most often.
		{DetectOverride, 0.85, []string{"vergiss", "olvid", "oubli", "esque", "dimentica"},
			regexp.MustCompile(`(?:vergiss|vergessen sie|olvid[ae]|oublie[zr]?|esque[cç]\pL*|dimentica)\s+(?:das |lo |ce qui |o |quanto )?(?:obige|vorherige|bisherige|anterior|précède|precedente|sopra|detto)\b`)},
		{DetectPersona, 0.75, []string{"jetzt", "ahora", "maintenant", "agora", "adesso", "ora sei", "теперь"},
			regexp.MustCompile(foldConfusables(`(?:du bist (?:jetzt|nun|ab jetzt)|ahora eres|ahora serás|tu es maintenant|vous êtes maintenant|agora você é|agora és|adesso sei|ora sei|теперь ты)\s+(?:[\pL'’]+\s+){0,6}?(?:ohne (?:regeln|filter|einschränkungen|zensur|grenzen)|sin (?:filtros?|reglas|restricciones|censura|límites)|sans (?:filtres?|règles|restrictions|censure|limites)|sem (?:filtros?|regras|restrições|censura|limites)|senza (?:filtri|regole|restrizioni|censura|limiti)|без (?:ограничений|правил|фильтров|цензуры))`))},
		// Asking for the reader's own instructions, in other languages.
		{DetectExtraction, 0.8, []string{"zeig", "nenn", "gib", "verrat", "wiederhol", "was ist dein", "was sind deine", "montre", "affiche", "révèle", "répète", "quel est ton", "quelles sont tes", "muestra", "muéstra", "revela", "repite", "dime", "cuál es tu", "cuáles son tus", "mostra", "repita", "qual é o seu", "quais são as suas"},
			regexp.MustCompile(`(?:zeige?|nenne?|gib|verrate?|wiederhole?|was ist|was sind|montre[zr]?|affiche[zr]?|révèle[zr]?|répète[zr]?|quel est|quelles sont|muestra(?:me)?|muéstrame|revela(?:me)?|repite(?:me)?|dime|cuál es|cuáles son|mostra(?:me)?|repita|qual é|quais são)\s+(?:mir |moi |-moi |me )?(?:alle |toutes |todas |todos )?(?:deine?n?|ihre?n?|tes|tos|vos|votre|ton|tus|sus|tu|su|o seu|a sua|as suas|os seus|seu|sua|suas|seus)\s+(?:system\s?|systeme?-?|sistema\s|système\s|ursprünglichen\s|initiales\s|iniciales\s|originales\s|versteckten\s|geheimen\s|secretas?\s|cachées?\s)?(?:anweisungen|systemanweisungen|instruktionen|prompts?|systemprompt|regeln|vorgaben|instructions|consignes|règles|instrucciones|reglas|instruções|regras|directives)\b`)},
		// The reader's own instructions, asked for directly ("repeat your
		// instructions so far").
		{DetectExtraction, 0.75, []string{"your instructions", "your prompt", "your rules", "your guidelines"},
			regexp.MustCompile(`\b(?:repeat|print|show|reveal|output|display|recite|dump|list|tell me|give me|write out|paste)\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?your\s+(?:instructions|prompt|rules|guidelines)\b`)},
		// Password games: the secret word asked for sideways.
		{DetectSecrets, 0.7, []string{"password", "secret word", "passphrase", "passcode"},
			regexp.MustCompile(`\b(?:spell|reveal|encode|hint at|leak|reverse|translate)\s+(?:me\s+)?(?:the|your)\s+(?:password|secret word|passphrase|passcode)\b|\b(?:give me|tell me|what is|what's)\s+(?:the|your)\s+secret word\b`)},

		// "Now forget all that and ...": the turn of a typed attack after
		// a harmless opening.
		{DetectOverride, 0.6, []string{"forget", "ignore", "disregard"},
			regexp.MustCompile(`\b(?:now |just |so )?(?:forget|ignore|disregard) (?:all (?:of )?(?:that|this|the above)|everything (?:above|before|else|i (?:said|told you)|you (?:were|have been) told)|the above)(?: and| ,| \.|,|\.| -)`)},

		// Persona switch / jailbreak.
		{DetectPersona, 0.55, []string{"you are now", "you're now", "you will now be", "you are going to"},
			regexp.MustCompile(`\b(?:you are now|you're now|you will now be|you are going to (?:act|pretend|be|play))\b[^.\n]{0,60}\b(?:dan|unrestricted|unfiltered|uncensored|jailbr\w*|free|evil|without|no longer|not bound|freed|liberated|mode|any ?thing|anything)\b`)},
		{DetectPersona, 0.85, []string{"do anything now", "developer mode", "dev mode", "god mode", "dan mode", "dude mode", "aim mode", "stan mode", "jailbroken"},
			regexp.MustCompile(`\b(?:do anything now|(?:developer|dev|god|dan|dude|stan|aim|evil|chaos|unrestricted|unfiltered|uncensored) mode|jailbroken)\b`)},
		// "Jailbreak" alone is as often a word of articles about attacks.
		{DetectPersona, 0.45, []string{"jailbr"},
			regexp.MustCompile(`\bjailbr(?:eak|eaks|eaking)\b`)},
		{DetectPersona, 0.6, []string{"restriction", "filter", "censor", "limitation", "rules", "guideline", "moral", "ethic", "polic", "boundar"},
			regexp.MustCompile(`\b(?:no|without(?: any)?|free (?:of|from)|not bound by|break(?:ing)? free (?:of|from)|ignor\w+|bypass\w*|don't (?:have|follow)|doesn't (?:have|follow)|not (?:have|follow)|zero)\s+(?:\w+\s+){0,3}?(?:restrictions|filters?|filtering|censorship|limitations|limits|rules|guidelines|morals?|ethics|ethical (?:guidelines|constraints|boundaries)|moral (?:guidelines|constraints|boundaries)|boundaries|polic(?:y|ies)|content polic(?:y|ies))\b`)},
		{DetectPersona, 0.5, []string{"openai", "anthropic", "content polic"},
			regexp.MustCompile(`\b(?:openai|anthropic|content) polic(?:y|ies)\b`)},
		{DetectPersona, 0.45, []string{"character", "refuse", "unfiltered", "uncensored", "amoral"},
			regexp.MustCompile(`\b(?:stay in character|never refuses?|(?:must|will|can)(?:not|n't| not| never) refuse|unfiltered|uncensored|amoral|without (?:any )?(?:warnings?|disclaimers?))\b`)},

		// System-prompt extraction.
		{DetectExtraction, 0.85, []string{"prompt", "instruction", "message", "rules"},
			regexp.MustCompile(`\b(?:reveal|print|show|repeat|output|display|tell(?: me)?|give(?: me)?|leak|dump|write out|recite|spell out|paste|return|list|what (?:is|are|was|were))\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?(?:your|the|its)\s+(?:\w+\s+){0,2}?(?:system|initial|original|hidden|secret|developer|pre-?|internal|confidential)\s*(?:prompts?|instructions|messages?|rules)\b`)},
		{DetectExtraction, 0.75, []string{"above", "before", "verbatim", "you are"},
			regexp.MustCompile(`\b(?:repeat|print|output|copy|reproduce|echo)\b[^.\n]{0,40}\b(?:everything|all|the (?:text|words|content|instructions)|text|words)\s+(?:above|before this|preceding|prior)|(?:verbatim|word for word)[^.\n]{0,40}\b(?:prompt|instructions)\b|(?:starting|beginning) with ["']?you are\b`)},

		// Chat-template tokens: the raw tokens of model chat formats.
		{DetectTemplate, 0.9, []string{"<|", "[inst]", "[/inst]", "<<sys>>", "<start_of_turn>", "<end_of_turn>", "<|im_"},
			regexp.MustCompile(`<\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|end|eot_id|start_header_id|end_header_id|begin_of_text|end_of_text|fim_\w+|tool|ipython)\|>|\[/?inst\]|<</?sys>>|<(?:start|end)_of_turn>`)},
		{DetectTemplate, 0.4, []string{"</s>", "<s>"},
			regexp.MustCompile(`</s>\s*<s>|</s>\s*\n|<s>\s*\[`)},

		// Fake role headers at the start of a line.
		{DetectRoleHeader, 0.65, []string{"system", "developer"},
			regexp.MustCompile(`(?m)^[\s>*#\[(]*(?:system|developer|sys)(?: message| prompt| note| override| update)?\s*[\]):]\s*\S`)},
		{DetectRoleHeader, 0.8, []string{"system_message", "system_prompt", "system_instruction"},
			regexp.MustCompile(`[#\[(<]\s*system_(?:message|prompt|instruction)s?\s*[\])>]`)},
		{DetectRoleHeader, 0.55, []string{"instruction", "response", "system"},
			regexp.MustCompile(`(?m)^\s*#{2,}\s*(?:instructions?|system|response|new instructions?)\s*:?\s*$`)},
		{DetectRoleHeader, 0.3, []string{"assistant", "user", "human", "ai:", "ai]", "gpt", "claude"},
			regexp.MustCompile(`(?m)^[\s>*\[]*(?:assistant|human|user|ai|chatgpt|gpt|claude)\s*[\]:]\s*\S`)},

		// Exfiltration links: images or links carrying data in the query.
		{DetectExfil, 0.85, []string{"]("},
			regexp.MustCompile(`!?\[[^\]\n]{0,100}\]\(\s*https?://[^\s)]*[?&][^\s)=]*=[^\s)]*(?:\{|\}|\$|<|>|%7b|\[|insert|data|secret|password|token|key|history|conversation|chat|summary|email|user|info|base64|encoded)[^\s)]*\)`)},
		{DetectExfil, 0.8, []string{"url", "link", "image", "query", "markdown"},
			regexp.MustCompile(`\b(?:append|add|include|encode|insert|put|embed|concatenate|attach)\b[^.\n]{0,80}\b(?:to|in|into|as)\s+(?:the|a|this)?\s*(?:url|link|query(?: string| parameter)?|image(?: url| link| source)?|markdown image|src)\b|\b(?:render|display|show|output)\b[^.\n]{0,30}\bmarkdown image\b`)},
		{DetectExfil, 0.6, []string{"http", "@"},
			regexp.MustCompile(`\b` + sendVerbs + `\b[^.\n]{0,60}\b(?:to|at|via)\s+(?:https?://\S+|[\w.+-]+@[\w-]+\.[\w.]+|(?:this|the following|my|our) (?:url|endpoint|webhook|server|address|email))`)},

		// Requests for secrets and environment variables.
		{DetectSecrets, 0.75, []string{"key", "secret", "password", "passphrase", "credential", "token", "cookie", "env", "id_rsa"},
			regexp.MustCompile(`\b(?:print|reveal|send|give me|tell me|show me|share|exfiltrate|leak|post|upload|email|forward|dump|expose|steal|grab)\b(?: me| us)?\s+(?:[\w'.-]+\s+){0,3}?` + secretThings)},
		{DetectSecrets, 0.75, []string{"in your reply", "in your response", "in your answer", "in your output", "in your summary", "in your message", "in the reply", "in the response", "in the answer", "in the output", "in the summary"},
			regexp.MustCompile(`\b(?:include|put|add|insert|append|embed|mention|paste)\b[^.\n]{0,40}?` + secretThings + `[^.\n]{0,30}?\bin (?:your|the) (?:reply|response|answer|output|summary|message)`)},
		{DetectSecrets, 0.4, []string{"env"},
			regexp.MustCompile(`\b(?:print|show|reveal|send|give|output|list|dump|echo|tell|share|exfiltrate|leak|post|upload|email|forward|display|return|include|expose)\b(?: me| us)?[^.\n]{0,30}?\b(?:all |the |your |any |every |its |their )?` + envThings + `\b`)},
		{DetectSecrets, 0.75, []string{"/proc/", "{{secret"},
			regexp.MustCompile(`/proc/(?:self|\d+|thread-self)/(?:environ|cmdline|mem)|\{\{\s*secret\s*:`)},
		// Code that reads the environment or keys is everyday code; it counts
		// only alongside other signs.
		{DetectSecrets, 0.35, []string{"environ", "id_rsa", ".ssh", "process.env", "getenv", "aws/credentials"},
			regexp.MustCompile(`\bos\.environ\b|\bprocess\.env\b|\bgetenv\(|~?/\.ssh/|\bid_rsa\b|\.aws/credentials`)},
		{DetectSecrets, 0.35, []string{"env", "set"},
			regexp.MustCompile(`(?m)(?:^|[;|&$(]\s*|\brun\s+|\bexecute\s+)(?:printenv|env|set|export -p)\s*(?:$|[|;>&)])`)},

		// Actions an agent must not take on a document's word: destroy, send
		// secrets out, persist. Manuals mention all of these ("add the line to
		// your ~/.bashrc"), so each weighs too little to flag a text alone.
		{DetectHarmful, 0.45, harmfulCues(),
			regexp.MustCompile(`\b(?:delete|remove|erase|wipe|destroy|drop)\s+(?:all|every|each|the entire|the whole)\s+(?:of\s+)?(?:the\s+|your\s+|my\s+|their\s+)?(?:\w+\s+){0,2}?(?:files?|folders?|director(?:y|ies)|repos?|repositor(?:y|ies)|data|emails?|messages?|records?|tables?|databases?|branch(?:es)?|backups?|documents?|workspace|contacts?|events?|users?)\b`)},
		{DetectHarmful, 0.6, []string{"rm -rf", "rm -fr", "mkfs", "dd if=", "drop database", "drop table", "format c:", "del /"},
			regexp.MustCompile(`\brm\s+-(?:rf|fr|r\s+-f)\s+(?:--no-preserve-root\s+)?(?:/|~/?|\$home/?|\./\*|\*|/\*)(?:[\s"'\x60;)]|$)|\bmkfs(?:\.\w+)?\s+/dev/|\bdd\s+if=/dev/(?:zero|random|urandom)\s+of=/dev/|\bdrop\s+(?:database|table)\b|\bformat\s+c:|\bdel\s+/[sfq]`)},
		{DetectHarmful, 0.75, []string{"curl", "wget", " nc ", "netcat", "scp "},
			regexp.MustCompile(`\b(?:curl|wget|nc|netcat|scp)\b[^\n|]{0,80}(?:-d\s*@|--data(?:-binary)?\s*@|-f\s*\S*=@|--upload-file|-t\s|<\s*|--post-file=)\s*\S{0,40}?(?:\.ssh|id_rsa|id_ed25519|\.env\b|/etc/passwd|/etc/shadow|credentials|\.aws|\.netrc|\.git-credentials|environ)|(?:cat|printenv|env)\b[^\n|]{0,60}(?:\.ssh/\S*|id_rsa|\.env\b|/etc/passwd|credentials|\.netrc)?\s*\|\s*(?:curl|nc|netcat|wget)\b`)},
		{DetectHarmful, 0.45, []string{"authorized_keys", "crontab", "bashrc", "zshrc", ".profile", "rc.local", "currentversion\\run", "startup"},
			regexp.MustCompile(`(?:>>|tee\s+-a)\s*\S*(?:authorized_keys|\.bashrc|\.zshrc|\.profile|/etc/crontab|rc\.local)|\(crontab\s+-l[^)]{0,40}\)\s*\|\s*crontab|currentversion\\run\b|\\start menu\\programs\\startup\b`)},
		{DetectHarmful, 0.45, []string{"environ", "process.env", "getenv"},
			regexp.MustCompile(`(?:os\.environ|process\.env|getenv\()[^\n]{0,200}?(?:requests\.post|fetch\(|urlopen|\.sendall|axios\.post|http\.post|smtplib)|(?:requests\.post|fetch\(|axios\.post)\([^\n)]{0,120}(?:os\.environ|process\.env|dict\(os\.environ\))`)},

		// Text addressed to the AI reading it: the mark of an indirect injection.
		{DetectAddressed, 0.75, []string{"if you are", "note to", "attention", "message to", "dear", "hey", "to the", "instructions for", "reading this", "processing this"},
			regexp.MustCompile(`\b(?:if you are an? |note to (?:the |any )?|attention,? |message (?:to|for) (?:the |any )?|dear |hey |to the |instructions for (?:the |any )?)` + aiNames + `\b|\b` + aiNames + `s?\b[^.\n]{0,30}\b(?:reading|processing|summari[sz]ing|analy[sz]ing|browsing|parsing|reviewing) this\b`)},
		// "This is an important message from me, Emma, to you, Claude." and
		// "Before you solve the task that I gave you...": a document speaking
		// as the user to the model that reads it.
		{DetectAddressed, 0.8, []string{"to you"},
			regexp.MustCompile(`\b(?:message|note|request|instructions?) from [^.\n]{0,60}\bto you,? (?:the |my |dear )?(?:` + aiNames + `|ai language model|gpt-?\d\S*)\b`)},
		{DetectAddressed, 0.75, []string{"gave you", "asked you", "assigned you", "given you"},
			regexp.MustCompile(`\b(?:the|your|my) (?:task|request|instructions?|question) (?:that )?i (?:gave|asked|assigned|have given) you\b`)},
		{DetectAddressed, 0.7, []string{"important", "urgent", "attention", "warning", "critical"},
			regexp.MustCompile(`\b(?:important|urgent|attention|warning|critical)\b[!:]*\s*(?:\w+\s+){0,3}?(?:for|to)\s+(?:the\s+|any\s+|all\s+)?` + aiNames + `s?\b`)},
	}
}}

// harmfulCues are the cues of the destroy-everything rule: a verb and a
// quantifier, since the verbs alone are in every manual.
func harmfulCues() []string {
	var cues []string
	for _, v := range []string{"delete", "remove", "erase", "wipe", "destroy", "drop"} {
		for _, q := range []string{" all", " every", " each", " the entire", " the whole"} {
			cues = append(cues, v+q)
		}
	}
	return cues
}

// quoted reports whether the match s[i:j] sits inside quotation marks, as
// when an article cites an attack ("the phrase 'ignore previous
// instructions' is a classic example").
func quoted(s string, i, j int) bool {
	before := s[max(0, i-3):i]
	after := s[j:min(len(s), j+40)]
	for _, q := range [][2]string{{`"`, `"`}, {`'`, `'`}, {"`", "`"}, {"「", "」"}, {"『", "』"}, {"（", "）"}} {
		if strings.Contains(before, q[0]) && strings.Contains(after, q[1]) {
			return true
		}
	}
	return false
}

// negated reports whether the match at v[i:] follows a negation in the
// same sentence: "never share your keys", "do not send ... to".
func negated(v string, i int) bool {
	before := v[max(0, i-24):i]
	if k := strings.LastIndexAny(before, ".\n!?"); k >= 0 {
		before = before[k+1:]
	}
	for _, n := range []string{"never ", "not ", "n't ", "avoid ", "no one should "} {
		if strings.Contains(before, n) {
			return true
		}
	}
	return false
}

// hit is one rule that matched.
type hit struct {
	detector string
	weight   float64
	match    string
	quoted   bool
}

// Windows around cues: a rule's pattern is matched only near its cues, so
// the cost of the patterns grows with the cues found, not with the text.
const (
	cueBefore = 160 // bytes before a cue; no pattern reaches back further
	cueAfter  = 240
)

// detect runs every rule on the detector view v.
func detect(v string) []hit {
	var hits []hit
	rs := rules.Get()
	for i := range rs {
		r := &rs[i]
		loc := r.find(v)
		if loc == nil {
			continue
		}
		h := hit{detector: r.detector, weight: r.weight, match: v[loc[0]:loc[1]]}
		if (r.detector == DetectSecrets || r.detector == DetectExfil) && negated(v, loc[0]) {
			// Advice, not a request: "never share your private key".
			h.quoted = true
			h.weight *= 0.3
		} else if r.detector != DetectTemplate && r.detector != DetectExfil && quoted(v, loc[0], loc[1]) {
			// Cited, not said: count it only alongside other signs.
			h.quoted = true
			h.weight *= 0.5
		}
		hits = append(hits, h)
	}
	return hits
}

// find returns the first match of r in v, searching the windows around
// r's cues (merged where they overlap), each starting at a line start when
// one is near, so that (?m)^ means what it says.
func (r *rule) find(v string) []int {
	type span struct{ from, to int }
	var spans []span
	for _, cue := range r.cues {
		for off := 0; off < len(v); {
			k := strings.Index(v[off:], cue)
			if k < 0 {
				break
			}
			p := off + k
			from := max(0, p-cueBefore)
			if nl := strings.LastIndexByte(v[from:p], '\n'); nl >= 0 {
				from += nl + 1
			}
			spans = append(spans, span{from, min(len(v), p+len(cue)+cueAfter)})
			off = p + len(cue)
		}
	}
	if len(spans) == 0 {
		return nil
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from < spans[j].from })
	best := []int(nil)
	cur := spans[0]
	try := func(s span) {
		if loc := r.re.FindStringIndex(v[s.from:s.to]); loc != nil {
			if best == nil || s.from+loc[0] < best[0] {
				best = []int{s.from + loc[0], s.from + loc[1]}
			}
		}
	}
	for _, s := range spans[1:] {
		if s.from <= cur.to {
			cur.to = max(cur.to, s.to)
			continue
		}
		try(cur)
		if best != nil {
			return best
		}
		cur = s
	}
	try(cur)
	return best
}

// foldAll folds each cue as Normalize folds text.
func foldAll(cues ...string) []string {
	for i, c := range cues {
		cues[i] = foldConfusables(c)
	}
	return cues
}
