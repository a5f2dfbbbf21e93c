package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/crmsync/crmsync"
)

// Demo data: names, companies and places mixed from Czech and English, so
// the demo shows diacritics, prefixes and suffixes as real CRMs hold them.
var (
	demoFirst = []string{"Jan", "Petr", "Jana", "Eva", "Tomáš", "Lucie", "Martin", "Kateřina", "Jiří", "Markéta",
		"Pavel", "Zuzana", "Ondřej", "Veronika", "David", "Tereza", "John", "Emma", "Oliver", "Sophie", "Michael", "Anna"}
	demoLast = []string{"Novák", "Svoboda", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec",
		"Marek", "Pokorný", "Král", "Růžička", "Beneš", "Fiala", "Smith", "Brown", "Taylor", "Wilson", "Evans"}
	demoPrefix  = []string{"", "", "", "Ing.", "Mgr.", "Bc.", "MUDr.", "Dr."}
	demoSuffix  = []string{"", "", "", "", "Ph.D.", "MBA", "DiS."}
	demoTitles  = []string{"Sales Manager", "Purchasing", "CEO", "Accountant", "IT Administrator", "Project Manager", "Obchodní zástupce", "Jednatel"}
	demoDepts   = []string{"Sales", "Purchasing", "Finance", "IT", "Management", "Logistics"}
	demoCities  = []string{"Praha", "Brno", "Ostrava", "Plzeň", "Olomouc", "Liberec", "London", "Wien", "Bratislava"}
	demoStreets = []string{"Václavské náměstí", "Husova", "Masarykova", "Nádražní", "Palackého", "High Street", "Hlavní"}
	demoCompany = []string{"Stavby", "Logistika", "Software", "Trading", "Elektro", "Consulting", "Foods", "Motors", "Print", "Energy"}
	demoSuffixC = []string{"s.r.o.", "a.s.", "Ltd.", "GmbH", "spol. s r.o."}
	demoJournal = []string{"Phone call", "Meeting", "E-mail", "Note"}
	demoSubject = []string{"Called about the offer", "Meeting at the fair", "Sent the price list", "Follow-up on delivery",
		"Schůzka v kanceláři", "Reklamace", "Demo of the new version", "Contract renewal"}
)

func pick(r *rand.Rand, list []string) string { return list[r.IntN(len(list))] }

// asciiFold turns a name into something fit for an e-mail address.
func asciiFold(s string) string {
	r := strings.NewReplacer("á", "a", "č", "c", "ď", "d", "é", "e", "ě", "e", "í", "i", "ň", "n", "ó", "o",
		"ř", "r", "š", "s", "ť", "t", "ú", "u", "ů", "u", "ý", "y", "ž", "z", "Č", "C", "Ř", "R", "Š", "S", "Ž", "Z")
	return strings.ToLower(r.Replace(s))
}

// demoCompanies returns n company names.
func demoCompanies(r *rand.Rand, n int) []string {
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		name := fmt.Sprintf("%s %s %s", pick(r, demoLast), pick(r, demoCompany), pick(r, demoSuffixC))
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

// demoPerson is one generated contact, in CRM field names with enum
// fields as text (converted to enum GUIDs by the seeder).
func demoPerson(r *rand.Rand, i int, company string) map[string]string {
	first, last := pick(r, demoFirst), pick(r, demoLast)
	domain := asciiFold(strings.Fields(company)[0]) + ".example"
	f := map[string]string{
		crmsync.FieldFirstName: first, crmsync.FieldLastName: last,
		crmsync.FieldPrefix: pick(r, demoPrefix), crmsync.FieldSuffix: pick(r, demoSuffix),
		crmsync.FieldCompany: company, crmsync.FieldJobTitle: pick(r, demoTitles), crmsync.FieldDepartment: pick(r, demoDepts),
		crmsync.FieldEmail1:                    fmt.Sprintf("%s.%s%d@%s", asciiFold(first), asciiFold(last), i, domain),
		crmsync.FieldPhoneBusiness:             fmt.Sprintf("+420 2%02d %03d %03d", r.IntN(100), r.IntN(1000), r.IntN(1000)),
		crmsync.FieldPhoneMobile:               fmt.Sprintf("+420 7%02d %03d %03d", r.IntN(100), r.IntN(1000), r.IntN(1000)),
		crmsync.FieldWebPage:                   "https://www." + domain,
		crmsync.AddressBusiness + "Street":     fmt.Sprintf("%s %d", pick(r, demoStreets), 1+r.IntN(120)),
		crmsync.AddressBusiness + "City":       pick(r, demoCities),
		crmsync.AddressBusiness + "PostalCode": fmt.Sprintf("%03d %02d", 100+r.IntN(700), r.IntN(100)),
		crmsync.AddressBusiness + "CountryEn":  "Czech Republic",
	}
	if r.IntN(4) == 0 {
		f[crmsync.FieldEmail2] = fmt.Sprintf("%s%d@gmail.example", asciiFold(first), i)
	}
	if r.IntN(5) == 0 {
		f[crmsync.FieldPhoneFax] = fmt.Sprintf("+420 2%02d %03d 999", r.IntN(100), r.IntN(1000))
	}
	if r.IntN(3) == 0 {
		f[crmsync.FieldNote] = "Prefers e-mail. Met at " + pick(r, demoCities) + "."
	}
	for k, v := range f {
		if v == "" {
			delete(f, k)
		}
	}
	return f
}

// demoJournalEntry returns the fields of one journal of a contact.
func demoJournalEntry(r *rand.Rand, contact string, now time.Time) map[string]string {
	when := now.Add(-time.Duration(r.IntN(365*24)) * time.Hour)
	return map[string]string{
		crmsync.FieldFileAs: pick(r, demoSubject), crmsync.FieldContactGUID: contact,
		crmsync.FieldNote: "Agreed next steps.", crmsync.FieldEventStart: crmsync.FormatTime(when),
		crmsync.FieldJournalType: pick(r, demoJournal),
	}
}

// demoPhoto draws a small PNG avatar: a coloured square with a lighter
// circle.
func demoPhoto(r *rand.Rand) []byte {
	const size = 48
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	bg := color.RGBA{uint8(60 + r.IntN(150)), uint8(60 + r.IntN(150)), uint8(60 + r.IntN(150)), 255}
	fg := color.RGBA{bg.R + 50, bg.G + 50, bg.B + 50, 255}
	for y := range size {
		for x := range size {
			dx, dy := x-size/2, y-size/2
			if dx*dx+dy*dy < (size/3)*(size/3) {
				img.Set(x, y, fg)
			} else {
				img.Set(x, y, bg)
			}
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
