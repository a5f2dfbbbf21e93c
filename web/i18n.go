package web

import (
	"net/http"
	"strconv"
	"strings"
)

// language picks the catalogue for a request from Accept-Language: the
// supported language with the highest weight, English when none is.
func language(r *http.Request) string {
	best, bestQ := "en", 0.0
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		primary, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if _, ok := catalogues[primary]; ok && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}

// tr returns the text of key in lang. Both catalogues hold every key (a
// test checks); a missing one shows as the key, never as nothing.
func tr(lang, key string) string {
	if s, ok := catalogues[lang][key]; ok {
		return s
	}
	if s, ok := catalogues["en"][key]; ok {
		return s
	}
	return key
}

var catalogues = map[string]map[string]string{"en": en, "cs": cs}

var en = map[string]string{
	"a11y.skip": "Skip to content",
	"a11y.nav":  "Main",

	"nav.contacts":   "Contacts",
	"nav.companies":  "Companies",
	"nav.journals":   "Journals",
	"nav.mycontacts": "My Contacts",
	"nav.phones":     "Phones",
	"nav.admin":      "Administration",

	"signin.title":     "Sign in to crmsync",
	"signin.name":      "User name",
	"signin.password":  "Password",
	"signin.submit":    "Sign in",
	"signin.wrong":     "Wrong user name or password.",
	"signin.throttled": "Too many failed sign-ins: try again in a quarter of an hour, or from a device you signed in from before.",
	"signout":          "Sign out",

	"error.title": "Something went wrong",
	"error.back":  "Back to the start page",

	"err.csrf":         "The form has expired or did not come from this site. Reload the page and try again.",
	"err.signedout":    "You have been signed out. Sign in again.",
	"err.internal":     "An internal error occurred. Try again later.",
	"err.not_found":    "Not found: the record does not exist or you may not see it.",
	"err.forbidden":    "You do not have the right to do that.",
	"err.unauthorized": "You have been signed out. Sign in again.",
	"err.invalid":      "Please correct the input:",
	"err.duplicate":    "A contact with this e-mail already exists:",
	"err.conflict":     "This record was changed by someone else meanwhile. Their values are shown beside yours; save again to keep yours.",
	"err.exists":       "This record was already created.",
	"err.precondition": "Not possible yet:",

	"list.search":     "Search",
	"list.searchhint": "Name, e-mail, company or phone",
	"list.name":       "Name",
	"list.noname":     "(no name)",
	"list.empty":      "Nothing here yet.",
	"list.nomatch":    "Nothing matches the search.",
	"list.pages":      "Pages",
	"list.first":      "« First page",
	"list.next":       "Next page »",

	"new.contacts":  "New contact",
	"new.companies": "New company",
	"new.journals":  "New journal entry",

	"edit":    "Edit",
	"delete":  "Delete",
	"restore": "Restore",
	"save":    "Save",
	"cancel":  "Cancel",
	"private": "private",
	"photo":   "Photo",
	"version": "version",

	"conflict.theirs": "Saved meanwhile",
	"conflict.hint":   "Saving now overwrites the values saved meanwhile with the ones in the form.",

	"flash.created":  "Created.",
	"flash.saved":    "Saved.",
	"flash.deleted":  "Moved to the trash.",
	"flash.restored": "Restored from the trash.",

	"trash.title": "Trash",
	"trash.back":  "Back to the list",
	"trash.empty": "The trash is empty.",

	"sync.mark":   "Sync",
	"sync.unmark": "Synced ✓",
	"sync.marked": "Outlook",

	"field.FileAs":                    "Name",
	"field.FirstName":                 "First name",
	"field.MiddleName":                "Middle name",
	"field.LastName":                  "Last name",
	"field.Company":                   "Company name",
	"field.Companies_CompanyGuid":     "Company",
	"field.Contacts_ContactGuid":      "Contact",
	"field.Title":                     "Job title",
	"field.Department":                "Department",
	"field.Email1Address":             "E-mail",
	"field.Email2Address":             "Second e-mail",
	"field.TelephoneNumber1":          "Business phone",
	"field.TelephoneNumber2":          "Home phone",
	"field.TelephoneNumber3":          "Mobile phone",
	"field.WebPage":                   "Web page",
	"field.BusinessAddressStreet":     "Street",
	"field.BusinessAddressCity":       "City",
	"field.BusinessAddressPostalCode": "Postal code",
	"field.Note":                      "Note",
	"field.IsPrivate":                 "Private (only I see it)",
	"field.CompanyName":               "Company name",
	"field.Email":                     "E-mail",
	"field.Phone":                     "Phone",
	"field.Mobile":                    "Mobile phone",
	"field.Address1Street":            "Street",
	"field.Address1City":              "City",
	"field.Address1PostalCode":        "Postal code",
	"field.TypeEn":                    "Type",
	"field.EventStart":                "When (UTC)",
	"field.ItemChanged":               "Changed",

	"phones.title":      "Contacts on your phone",
	"phones.intro":      "Your CRM contacts can appear in the address book of an iPhone, of Android (DAVx⁵) or of Thunderbird through CardDAV. Add a CardDAV account with these details.",
	"phones.server":     "Server (iPhone, DAVx⁵)",
	"phones.serverhint": "iPhone: Settings › Contacts › Accounts › Add Account › Other › Add CardDAV Account. DAVx⁵: Login with URL and user name.",
	"phones.book":       "Address book (Thunderbird and others)",
	"phones.bookhint":   "Clients that ask for the address book itself take this address.",
	"phones.password":   "your crmsync password",

	"sync.outlook":                  "Outlook",
	"sync.connectedto":              "Connected to",
	"sync.state.off":                "sync is off",
	"sync.state.first-sync-pending": "sync is on, the first sync waits",
	"sync.state.active":             "sync is on",
	"sync.sandbox":                  "Sandbox mailbox address",
	"sync.connect":                  "Connect",
	"sync.reconnect":                "Connect again",
	"sync.m365":                     "Microsoft 365 mailboxes are connected by the administrator with 'crmsync outlook connect' (device code sign-in).",
	"sync.badurl":                   "the mailbox address must start with http:// or https://.",
	"sync.connected":                "Connected to the mailbox.",
	"sync.prereq":                   "Prerequisites",
	"sync.check.create":             "Right to create contacts",
	"sync.check.edit":               "Right to edit contacts",
	"sync.check.export":             "Right to export contacts",
	"sync.check.companies":          "Right to create companies (companies are created from Outlook)",
	"sync.check.remote":             "The mailbox answers",
	"sync.turnon":                   "Synchronize contacts with Outlook",
	"sync.mode":                     "Which contacts",
	"sync.automatic":                "Automatic: every contact I may see",
	"sync.filter":                   "Filter (empty = all, own, or companies:GUID,GUID)",
	"sync.manual":                   "Manual: only the contacts I mark",
	"sync.policy":                   "When both sides changed a contact",
	"sync.newest":                   "The newer change wins",
	"sync.crmwins":                  "The CRM wins",
	"sync.outlookwins":              "Outlook wins",
	"sync.enable":                   "Turn sync on",
	"sync.save":                     "Save the sync settings",
	"sync.question":                 "Run the first sync now?",
	"sync.now":                      "Now",
	"sync.laterbutton":              "Later",
	"sync.later":                    "The first sync waits; you will be asked again at your next sign-in.",
	"sync.progress":                 "First sync",
	"sync.done":                     "Contacts",
	"sync.rate":                     "Rate",
	"sync.eta":                      "Time left",
	"sync.finished":                 "The first sync is done",
	"sync.createdRemote":            "Created in Outlook",
	"sync.createdCRM":               "Created in the CRM",
	"sync.duplicates":               "Duplicates found",
	"sync.conflicts":                "Conflicts",
	"sync.errors":                   "Errors",
	"sync.lastsummary":              "Summary of the last first sync",

	"dup.title":   "Duplicates to review",
	"dup.none":    "No duplicates await review.",
	"dup.compare": "The CRM contact beside the Outlook duplicate",
	"dup.field":   "Field",
	"dup.crm":     "CRM (kept as the main one)",
	"dup.outlook": "Outlook duplicate",
	"dup.merge":   "Merge",
	"dup.keep":    "Keep both",
	"dup.open":    "Open the CRM contact",
	"dup.kept":    "Kept both: the duplicate stays in Outlook's \"Duplicate contacts\" folder.",
	"dup.merged":  "Merged: %d empty fields filled, %d differing values kept in a journal; the Outlook copy was removed.",
	"dup.review":  "Review duplicates",
}

var cs = map[string]string{
	"a11y.skip": "Přeskočit na obsah",
	"a11y.nav":  "Hlavní",

	"nav.contacts":   "Kontakty",
	"nav.companies":  "Společnosti",
	"nav.journals":   "Deník",
	"nav.mycontacts": "Moje kontakty",
	"nav.phones":     "Telefony",
	"nav.admin":      "Administrace",

	"signin.title":     "Přihlášení do crmsync",
	"signin.name":      "Uživatelské jméno",
	"signin.password":  "Heslo",
	"signin.submit":    "Přihlásit",
	"signin.wrong":     "Chybné uživatelské jméno nebo heslo.",
	"signin.throttled": "Příliš mnoho neúspěšných přihlášení: zkuste to znovu za čtvrt hodiny, nebo ze zařízení, ze kterého jste se už přihlásili.",
	"signout":          "Odhlásit",

	"error.title": "Něco se nepovedlo",
	"error.back":  "Zpět na úvodní stránku",

	"err.csrf":         "Formulář vypršel nebo nepřišel z tohoto webu. Načtěte stránku znovu a zkuste to ještě jednou.",
	"err.signedout":    "Byli jste odhlášeni. Přihlaste se znovu.",
	"err.internal":     "Došlo k vnitřní chybě. Zkuste to později.",
	"err.not_found":    "Nenalezeno: záznam neexistuje nebo ho nesmíte vidět.",
	"err.forbidden":    "Na tuto akci nemáte právo.",
	"err.unauthorized": "Byli jste odhlášeni. Přihlaste se znovu.",
	"err.invalid":      "Opravte prosím zadání:",
	"err.duplicate":    "Kontakt s tímto e-mailem už existuje:",
	"err.conflict":     "Záznam mezitím změnil někdo jiný. Jeho hodnoty jsou zobrazeny vedle vašich; uložením znovu ponecháte své.",
	"err.exists":       "Tento záznam už byl vytvořen.",
	"err.precondition": "Zatím to nejde:",

	"list.search":     "Hledat",
	"list.searchhint": "Jméno, e-mail, společnost nebo telefon",
	"list.name":       "Název",
	"list.noname":     "(bez jména)",
	"list.empty":      "Zatím tu nic není.",
	"list.nomatch":    "Hledání nic nenašlo.",
	"list.pages":      "Stránky",
	"list.first":      "« První stránka",
	"list.next":       "Další stránka »",

	"new.contacts":  "Nový kontakt",
	"new.companies": "Nová společnost",
	"new.journals":  "Nový záznam deníku",

	"edit":    "Upravit",
	"delete":  "Smazat",
	"restore": "Obnovit",
	"save":    "Uložit",
	"cancel":  "Zrušit",
	"private": "soukromé",
	"photo":   "Fotografie",
	"version": "verze",

	"conflict.theirs": "Mezitím uloženo",
	"conflict.hint":   "Uložením teď přepíšete hodnoty uložené mezitím hodnotami z formuláře.",

	"flash.created":  "Vytvořeno.",
	"flash.saved":    "Uloženo.",
	"flash.deleted":  "Přesunuto do koše.",
	"flash.restored": "Obnoveno z koše.",

	"trash.title": "Koš",
	"trash.back":  "Zpět na seznam",
	"trash.empty": "Koš je prázdný.",

	"sync.mark":   "Synchronizovat",
	"sync.unmark": "Synchronizuje se ✓",
	"sync.marked": "Outlook",

	"field.FileAs":                    "Název",
	"field.FirstName":                 "Jméno",
	"field.MiddleName":                "Druhé jméno",
	"field.LastName":                  "Příjmení",
	"field.Company":                   "Název společnosti",
	"field.Companies_CompanyGuid":     "Společnost",
	"field.Contacts_ContactGuid":      "Kontakt",
	"field.Title":                     "Pracovní pozice",
	"field.Department":                "Oddělení",
	"field.Email1Address":             "E-mail",
	"field.Email2Address":             "Druhý e-mail",
	"field.TelephoneNumber1":          "Telefon do práce",
	"field.TelephoneNumber2":          "Telefon domů",
	"field.TelephoneNumber3":          "Mobil",
	"field.WebPage":                   "Web",
	"field.BusinessAddressStreet":     "Ulice",
	"field.BusinessAddressCity":       "Město",
	"field.BusinessAddressPostalCode": "PSČ",
	"field.Note":                      "Poznámka",
	"field.IsPrivate":                 "Soukromé (vidím jen já)",
	"field.CompanyName":               "Název společnosti",
	"field.Email":                     "E-mail",
	"field.Phone":                     "Telefon",
	"field.Mobile":                    "Mobil",
	"field.Address1Street":            "Ulice",
	"field.Address1City":              "Město",
	"field.Address1PostalCode":        "PSČ",
	"field.TypeEn":                    "Typ",
	"field.EventStart":                "Kdy (UTC)",
	"field.ItemChanged":               "Změněno",

	"phones.title":      "Kontakty v telefonu",
	"phones.intro":      "Kontakty z CRM se mohou objevit v adresáři iPhonu, Androidu (DAVx⁵) nebo Thunderbirdu přes CardDAV. Přidejte účet CardDAV s těmito údaji.",
	"phones.server":     "Server (iPhone, DAVx⁵)",
	"phones.serverhint": "iPhone: Nastavení › Kontakty › Účty › Přidat účet › Jiný › Přidat účet CardDAV. DAVx⁵: Přihlášení pomocí URL a uživatelského jména.",
	"phones.book":       "Adresář (Thunderbird a další)",
	"phones.bookhint":   "Aplikace, které chtějí přímo adresu adresáře, použijí tuto.",
	"phones.password":   "vaše heslo do crmsync",

	"sync.outlook":                  "Outlook",
	"sync.connectedto":              "Připojeno k",
	"sync.state.off":                "synchronizace je vypnutá",
	"sync.state.first-sync-pending": "synchronizace je zapnutá, první synchronizace čeká",
	"sync.state.active":             "synchronizace je zapnutá",
	"sync.sandbox":                  "Adresa testovací schránky (sandbox)",
	"sync.connect":                  "Připojit",
	"sync.reconnect":                "Připojit znovu",
	"sync.m365":                     "Schránky Microsoft 365 připojuje administrátor příkazem 'crmsync outlook connect' (přihlášení kódem zařízení).",
	"sync.badurl":                   "adresa schránky musí začínat http:// nebo https://.",
	"sync.connected":                "Schránka je připojena.",
	"sync.prereq":                   "Předpoklady",
	"sync.check.create":             "Právo vytvářet kontakty",
	"sync.check.edit":               "Právo upravovat kontakty",
	"sync.check.export":             "Právo exportovat kontakty",
	"sync.check.companies":          "Právo vytvářet společnosti (společnosti se zakládají z Outlooku)",
	"sync.check.remote":             "Schránka odpovídá",
	"sync.turnon":                   "Synchronizovat kontakty s Outlookem",
	"sync.mode":                     "Které kontakty",
	"sync.automatic":                "Automaticky: všechny kontakty, které smím vidět",
	"sync.filter":                   "Filtr (prázdný = všechny, own, nebo companies:GUID,GUID)",
	"sync.manual":                   "Ručně: jen kontakty, které označím",
	"sync.policy":                   "Když se kontakt změnil na obou stranách",
	"sync.newest":                   "Vyhrává novější změna",
	"sync.crmwins":                  "Vyhrává CRM",
	"sync.outlookwins":              "Vyhrává Outlook",
	"sync.enable":                   "Zapnout synchronizaci",
	"sync.save":                     "Uložit nastavení synchronizace",
	"sync.question":                 "Spustit první synchronizaci hned?",
	"sync.now":                      "Hned",
	"sync.laterbutton":              "Později",
	"sync.later":                    "První synchronizace počká; zeptáme se znovu při příštím přihlášení.",
	"sync.progress":                 "První synchronizace",
	"sync.done":                     "Kontakty",
	"sync.rate":                     "Rychlost",
	"sync.eta":                      "Zbývá",
	"sync.finished":                 "První synchronizace je hotová",
	"sync.createdRemote":            "Vytvořeno v Outlooku",
	"sync.createdCRM":               "Vytvořeno v CRM",
	"sync.duplicates":               "Nalezené duplicity",
	"sync.conflicts":                "Konflikty",
	"sync.errors":                   "Chyby",
	"sync.lastsummary":              "Souhrn poslední první synchronizace",

	"dup.title":   "Duplicity ke kontrole",
	"dup.none":    "Žádné duplicity nečekají na kontrolu.",
	"dup.compare": "Kontakt z CRM vedle duplicity z Outlooku",
	"dup.field":   "Pole",
	"dup.crm":     "CRM (zůstává hlavní)",
	"dup.outlook": "Duplicita z Outlooku",
	"dup.merge":   "Sloučit",
	"dup.keep":    "Ponechat obě",
	"dup.open":    "Otevřít kontakt v CRM",
	"dup.kept":    "Ponecháno obojí: duplicita zůstává ve složce Outlooku \"Duplicate contacts\".",
	"dup.merged":  "Sloučeno: doplněno %d prázdných polí, %d odlišných hodnot uloženo do deníku; kopie v Outlooku byla odstraněna.",
	"dup.review":  "Zkontrolovat duplicity",
}
