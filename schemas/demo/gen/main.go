// Command gen writes the generated part of the demo dataset: the Compact's members, the opening
// balances, the focal points, the documents shared, the monthly platform visits, CTED's earlier
// assessment visits and recommendations, and entities.json (every publisher of the dataset,
// hand-written files included).
//
// Everything is derived from the tables below and a fixed-seed generator, so a run writes the
// same bytes every time; the demo package's tests regenerate into a temporary directory and
// compare with the checked-in files.
//
//	go run ./gen -in . -out .
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

// The seed's "Counter-Terrorism Compact in numbers" as of asOf: the generated data, together with
// the hand-written activities, must fold to exactly these.
const (
	asOf                     = "2025-06-30"
	targetMemberStates       = 137
	targetOrganizations      = 14
	targetFocalPoints        = 1050
	targetDocumentsShared    = 3670
	targetVirtualVisits      = 407000
	targetTARecommendations  = 861
	targetCountryAssessments = 28
	// targetEntities is not a knob: it is the number of members in the table below, checked.
	targetEntities = 46
)

// The ledger takes over from the opening balances dated openingDate: the twelve months after it
// (the six review periods up to May-June 2025) are events.
const (
	openingDate = "2024-06-30"
	windowStart = "2024-07-01"
	// oldStart is the first day a focal point could have been registered on the CT Platform.
	oldStart = "2019-03-01"
	// focalPointsRemoved are the focal points removed in the window (replaced by colleagues):
	// registrations are targetFocalPoints+focalPointsRemoved.
	focalPointsRemoved = 40
)

// The files this command writes; the hand-written ones (read for entities.json) are handWritten.
const (
	membersFile   = "members.jsonl"
	openingsFile  = "openings.jsonl"
	focalFile     = "focal_points.jsonl"
	documentsFile = "documents.jsonl"
	visitsFile    = "platform_visits.jsonl"
	ctedFile      = "cted.jsonl"
	entitiesFile  = "entities.json"
)

var handWritten = []string{"structure.jsonl", "activities.jsonl"}

const secretariat = "SECRETARIAT"

type member struct {
	acronym, name, joined, status string
}

// shortNames are the names the seed prints for entities whose acronym is not the name they go
// by: its structure page has "Chair: UN Women".
var shortNames = map[string]string{"UNWOMEN": "UN Women"}

// founded is the day the Secretary-General signed the Compact (23 February 2018).
const founded = "2018-02-23"

// members are the Compact entities under their current acronyms. The founders are dated at the
// signing; the later dates are illustrative (see NOTES.md).
var members = []member{
	{"CTED", "Counter-Terrorism Committee Executive Directorate", founded, "member"},
	{"DGC", "Department of Global Communications", founded, "member"},
	{"DPO", "Department of Peace Operations", founded, "member"},
	{"DPPA", "Department of Political and Peacebuilding Affairs", founded, "member"},
	{"DSS", "Department of Safety and Security", founded, "member"},
	{"GE-1540", "Group of Experts of the Security Council Committee established pursuant to resolution 1540 (2004)", founded, "member"},
	{"IAEA", "International Atomic Energy Agency", founded, "member"},
	{"ICAO", "International Civil Aviation Organization", founded, "member"},
	{"IMO", "International Maritime Organization", founded, "member"},
	{"INTERPOL", "International Criminal Police Organization", founded, "member"},
	{"IOM", "International Organization for Migration", founded, "member"},
	{"MT-1267", "Analytical Support and Sanctions Monitoring Team (resolutions 1526 (2004) and 2253 (2015))", founded, "member"},
	{"OCHA", "Office for the Coordination of Humanitarian Affairs", founded, "member"},
	{"OHCHR", "Office of the United Nations High Commissioner for Human Rights", founded, "member"},
	{"OLA", "Office of Legal Affairs", founded, "member"},
	{"OPCW", "Organisation for the Prohibition of Chemical Weapons", founded, "member"},
	{"OSAA", "Office of the Special Adviser on Africa", founded, "member"},
	{"OSAPG", "Office on Genocide Prevention and the Responsibility to Protect", founded, "member"},
	{"OSRSG-CAAC", "Office of the Special Representative of the Secretary-General for Children and Armed Conflict", founded, "member"},
	{"OSRSG-SVC", "Office of the Special Representative of the Secretary-General on Sexual Violence in Conflict", founded, "member"},
	{"PBSO", "Peacebuilding Support Office", founded, "member"},
	{"SR-CTHR", "Special Rapporteur on the promotion and protection of human rights and fundamental freedoms while countering terrorism", founded, "member"},
	{"UNAOC", "United Nations Alliance of Civilizations", founded, "member"},
	{"UNDP", "United Nations Development Programme", founded, "member"},
	{"UNESCO", "United Nations Educational, Scientific and Cultural Organization", founded, "member"},
	{"UNHCR", "Office of the United Nations High Commissioner for Refugees", founded, "member"},
	{"UNICEF", "United Nations Children's Fund", founded, "member"},
	{"UNICRI", "United Nations Interregional Crime and Justice Research Institute", founded, "member"},
	{"UNIDIR", "United Nations Institute for Disarmament Research", founded, "member"},
	{"UNOCT", "United Nations Office of Counter-Terrorism", founded, "member"},
	{"UNODA", "United Nations Office for Disarmament Affairs", founded, "member"},
	{"UNODC", "United Nations Office on Drugs and Crime", founded, "member"},
	{"UNOPS", "United Nations Office for Project Services", founded, "member"},
	{"UNSSC", "United Nations System Staff College", founded, "member"},
	{"UNWOMEN", "United Nations Entity for Gender Equality and the Empowerment of Women (UN Women)", founded, "member"},
	{"WCO", "World Customs Organization", founded, "member"},
	{"WHO", "World Health Organization", founded, "member"},
	{"WORLDBANK", "World Bank Group", founded, "member"},
	{"IPU", "Inter-Parliamentary Union", "2019-06-18", "member"},
	{"OSRSG-VAC", "Office of the Special Representative of the Secretary-General on Violence against Children", "2019-11-04", "member"},
	{"FATF", "Financial Action Task Force", "2020-02-17", "observer"},
	{"ITU", "International Telecommunication Union", "2020-09-21", "member"},
	{"UNITAR", "United Nations Institute for Training and Research", "2021-03-15", "member"},
	{"OICT", "Office of Information and Communications Technology", "2021-09-13", "member"},
	{"UPU", "Universal Postal Union", "2023-05-22", "member"},
	{"DCO", "United Nations Development Coordination Office", "2024-09-16", "member"},
	{"UNU", "United Nations University", "2025-02-10", "member"},
}

// secretariatName is the name the Secretariat's credentials are issued under.
const secretariatName = "Counter-Terrorism Compact Secretariat (UNOCT Policy, Knowledge Management and Coordination Branch)"

type org struct {
	name, kind string
	// since is the day of its first focal point when it falls in the window ("" = before it).
	since string
}

var orgs = []org{
	{"African Union", "regional", ""},
	{"Association of Southeast Asian Nations", "regional", ""},
	{"CIS Anti-Terrorism Center", "regional", ""},
	{"Collective Security Treaty Organization", "regional", ""},
	{"Council of Europe", "regional", ""},
	{"European Union", "regional", ""},
	{"Gulf Cooperation Council", "regional", ""},
	{"League of Arab States", "regional", ""},
	{"Organisation of Islamic Cooperation", "international", ""},
	{"Organization for Security and Co-operation in Europe", "regional", ""},
	{"Organization of American States", "regional", ""},
	{"Regional Anti-Terrorist Structure of the Shanghai Cooperation Organisation", "regional", ""},
	{"Intergovernmental Authority on Development", "regional", "2024-11-04"},
	{"Economic Community of West African States", "regional", "2025-05-12"},
}

// unMembers are the 193 Member States of the United Nations (ISO 3166-1 alpha-3).
var unMembers = strings.Fields(`
AFG ALB DZA AND AGO ATG ARG ARM AUS AUT AZE BHS BHR BGD BRB BLR BEL BLZ BEN BTN BOL BIH BWA BRA BRN
BGR BFA BDI CPV KHM CMR CAN CAF TCD CHL CHN COL COM COG CRI CIV HRV CUB CYP CZE PRK COD DNK DJI DMA
DOM ECU EGY SLV GNQ ERI EST SWZ ETH FJI FIN FRA GAB GMB GEO DEU GHA GRC GRD GTM GIN GNB GUY HTI HND
HUN ISL IND IDN IRN IRQ IRL ISR ITA JAM JPN JOR KAZ KEN KIR KWT KGZ LAO LVA LBN LSO LBR LBY LIE LTU
LUX MDG MWI MYS MDV MLI MLT MHL MRT MUS MEX FSM MCO MNG MNE MAR MOZ MMR NAM NRU NPL NLD NZL NIC NER
NGA MKD NOR OMN PAK PLW PAN PNG PRY PER PHL POL PRT QAT KOR MDA ROU RUS RWA KNA LCA VCT WSM SMR STP
SAU SEN SRB SYC SLE SGP SVK SVN SLB SOM ZAF SSD ESP LKA SDN SUR SWE CHE SYR TJK THA TLS TGO TON TTO
TUN TUR TKM TUV UGA UKR ARE GBR TZA USA URY UZB VUT VEN VNM YEM ZMB ZWE`)

// withoutFocalPoint are the Member States that have no focal point as of asOf (illustrative).
var withoutFocalPoint = strings.Fields(`
AND ATG BHS BRB BLZ BTN CPV COM CUB DMA ERI SWZ FJI GNQ GRD GNB GUY HTI KIR LSO LIE MHL FSM MCO
NRU NIC PLW PNG PRK KNA LCA VCT WSM SMR STP SYC SLB SUR TLS TON TTO TUV VUT VEN MUS MWI ZMB ZWE
NAM BWA SSD BRN ISL LUX URY PRY`)

// newStates registered their first focal point in the window, one per review period.
var newStates = []struct{ state, since string }{
	{"GMB", "2024-08-12"}, {"LBR", "2024-10-07"}, {"SLE", "2024-12-09"},
	{"MDG", "2025-02-17"}, {"RWA", "2025-04-14"}, {"LAO", "2025-06-09"},
}

// ctedVisits are CTED's assessment visits in the window before May-June 2025 (the May-June ones
// are hand-written activities). Illustrative, see NOTES.md.
var ctedVisits = []struct {
	id, country, countryName, purpose, start, end string
}{
	{"2024-09-16-ken-follow-up", "KEN", "Kenya", "follow_up_assessment", "2024-09-16", "2024-09-19"},
	{"2024-11-18-phl-follow-up", "PHL", "the Philippines", "follow_up_assessment", "2024-11-18", "2024-11-21"},
	{"2025-02-10-mdv-assessment", "MDV", "Maldives", "assessment", "2025-02-10", "2025-02-13"},
	{"2025-03-24-civ-follow-up", "CIV", "Côte d'Ivoire", "follow_up_assessment", "2025-03-24", "2025-03-27"},
}

// ctedRecommendations are the technical-assistance recommendations CTED issued in the window,
// typically a few months after a visit.
var ctedRecommendations = []struct {
	date, country string
	count         int
}{
	{"2024-07-23", "TUN", 18}, {"2024-08-27", "KAZ", 14}, {"2024-10-15", "GHA", 21},
	{"2024-11-26", "JOR", 12}, {"2025-01-21", "KEN", 16}, {"2025-03-04", "PHL", 19},
	{"2025-04-15", "SEN", 11}, {"2025-05-20", "MDV", 23}, {"2025-06-24", "CIV", 17},
}

// monthlyVisits are the CT Platform's virtual visits per month, July 2024 to June 2025.
var monthlyVisits = []int{8120, 7460, 9310, 9870, 9540, 7980, 8890, 9230, 10140, 9610, 9020, 9730}

// documentTopics name the subjects of the documents shared.
var documentTopics = []string{
	"countering the financing of terrorism", "border security and management",
	"protection of critical infrastructure", "preventing violent extremism",
	"support to victims of terrorism", "countering terrorist use of information and communications technologies",
	"CBRN terrorism", "prosecution, rehabilitation and reintegration", "gender and counter-terrorism",
	"youth engagement in preventing violent extremism", "aviation security", "maritime security",
	"human rights compliance in counter-terrorism", "national and regional counter-terrorism strategies",
}

// workingGroups name the eight working groups for meeting summaries (see structure.jsonl).
var workingGroups = []struct{ chair, short string }{
	{"OHCHR", "HRRoL-VoT"}, {"UNWOMEN", "Gender"}, {"UNOCT", "PCVE"}, {"UNOCT", "RMME"},
	{"CTED", "NARS"}, {"CTED", "BMLE"}, {"INTERPOL", "ETCIP"}, {"UNODC", "CJLR-CFT"},
}

func main() {
	in := flag.String("in", ".", "directory of the hand-written files (structure.jsonl, activities.jsonl)")
	out := flag.String("out", ".", "directory to write the generated files to")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	if err := checkTables(); err != nil {
		return err
	}
	files := map[string][]event{
		membersFile:  memberEvents(),
		openingsFile: openingEvents(),
		focalFile:    focalPointEvents(),
		visitsFile:   platformEvents(),
		ctedFile:     ctedEvents(),
	}
	files[documentsFile] = documentEvents()
	for name, evs := range files {
		if err := writeJSONL(filepath.Join(out, name), evs); err != nil {
			return err
		}
	}
	sources := map[string]bool{}
	for _, evs := range files {
		for _, e := range evs {
			sources[e.Source] = true
		}
	}
	for _, name := range handWritten {
		if err := readSources(filepath.Join(in, name), sources); err != nil {
			return err
		}
	}
	return writeEntities(filepath.Join(out, entitiesFile), sources)
}

// checkTables stops a table edit that would break the seed's numbers before it writes anything.
func checkTables() error {
	n := 0
	for _, m := range members {
		if m.status == "member" {
			n++
		}
	}
	if n != targetEntities {
		return fmt.Errorf("members table has %d members, the seed says %d", n, targetEntities)
	}
	if len(unMembers) != 193 {
		return fmt.Errorf("unMembers has %d states, want 193", len(unMembers))
	}
	if s := states(); len(s) != targetMemberStates {
		return fmt.Errorf("%d states have focal points, the seed says %d: fix withoutFocalPoint", len(s), targetMemberStates)
	}
	if len(orgs) != targetOrganizations {
		return fmt.Errorf("orgs has %d organizations, the seed says %d", len(orgs), targetOrganizations)
	}
	for _, ns := range newStates {
		if !slices.Contains(states(), ns.state) {
			return fmt.Errorf("new state %s is not among the states with focal points", ns.state)
		}
	}
	return nil
}

// states are the Member States with a focal point as of asOf, in unMembers order.
func states() []string {
	var out []string
	for _, s := range unMembers {
		if !slices.Contains(withoutFocalPoint, s) {
			out = append(out, s)
		}
	}
	return out
}

// event is one CloudEvent with its members in the envelope's order.
type event struct {
	SpecVersion string `json:"specversion"`
	ID          string `json:"id"`
	Source      string `json:"source"`
	Type        string `json:"type"`
	Time        string `json:"time"`
	Data        any    `json:"data"`
}

func newEvent(entity, id, typ, timestamp string, data any) event {
	return event{SpecVersion: "1.0", ID: id, Source: "/entities/" + entity, Type: typ, Time: timestamp, Data: data}
}

// at is a date's recording time: publishers record the day's events in the morning after.
func at(date string, hour int) string {
	d := mustDate(date).AddDate(0, 0, 1)
	return d.Add(time.Duration(hour) * time.Hour).Format(time.RFC3339)
}

func mustDate(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

type actor struct {
	Entity string `json:"entity,omitempty"`
	State  string `json:"state,omitempty"`
	Org    string `json:"org,omitempty"`
	Kind   string `json:"kind,omitempty"`
}

func (a actor) key() string { return a.Entity + "|" + a.State + "|" + a.Org }

func memberEvents() []event {
	type joined struct {
		Entity    string `json:"entity"`
		Name      string `json:"name"`
		ShortName string `json:"short_name,omitempty"`
		Status    string `json:"status"`
		Date      string `json:"date"`
	}
	sorted := slices.Clone(members)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].joined < sorted[j].joined })
	var out []event
	for _, m := range sorted {
		out = append(out, newEvent(secretariat, "entity.joined."+m.acronym, "compact.entity.joined", at(m.joined, 9),
			joined{m.acronym, m.name, shortNames[m.acronym], m.status, m.joined}))
	}
	return out
}

// openingEvents carry the history from before the ledger for the counters that have no events
// before windowStart: whatever the window's events do not explain.
func openingEvents() []event {
	type opened struct {
		Counter string `json:"counter"`
		Value   int    `json:"value"`
		Date    string `json:"date"`
	}
	visits := 0
	for _, v := range monthlyVisits {
		visits += v
	}
	recs := 0
	for _, r := range ctedRecommendations {
		recs += r.count
	}
	balances := []opened{
		{"documents_shared", targetDocumentsShared - documentCount(), openingDate},
		{"virtual_visits", targetVirtualVisits - visits, openingDate},
		{"ta_recommendations", targetTARecommendations - recs, openingDate},
		// The May-June visits (Hungary, Norway, Chad) are hand-written activities.
		{"country_assessments", targetCountryAssessments - len(ctedVisits) - 3, openingDate},
	}
	var out []event
	for _, b := range balances {
		if b.Value < 0 {
			panic(fmt.Sprintf("opening balance of %s is negative: the window's events exceed the seed's number", b.Counter))
		}
		out = append(out, newEvent(secretariat, "counter.opened."+b.Counter+"."+b.Date, "compact.counter.opened",
			windowStart+"T08:00:00Z", b))
	}
	return out
}

// rng is splitmix64: tiny, and its sequence is fixed by its definition, not by a library version.
type rng struct{ s uint64 }

func (r *rng) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a number in [0, n).
func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

// dateIn returns a day in [from, to].
func (r *rng) dateIn(from, to string) string {
	a, b := mustDate(from), mustDate(to)
	days := int(b.Sub(a).Hours()/24) + 1
	return a.AddDate(0, 0, r.intn(days)).Format(time.DateOnly)
}

type slot struct {
	who     actor
	date    string
	removed string // removal date, "" if still active
	old     bool   // registered before the window
	id      string
}

// focalPointEvents registers targetFocalPoints+focalPointsRemoved focal points over 2019-2025 and
// removes focalPointsRemoved of them in the window, never a party's last one, so that as of every
// day each state and organization that ever had a focal point keeps one.
func focalPointEvents() []event {
	r := &rng{s: 0xC0FFEE}
	var slots []slot
	add := func(who actor, count int, since string) {
		for i := 0; i < count; i++ {
			var s slot
			s.who = who
			switch {
			case since >= windowStart && i == 0:
				s.date = since
			case since >= windowStart:
				s.date = r.dateIn(since, asOf)
			case i == 0 || r.intn(5) > 0:
				from := oldStart
				if since > from {
					from = since
				}
				s.date, s.old = r.dateIn(from, openingDate), true
			default:
				s.date = r.dateIn(windowStart, asOf)
			}
			slots = append(slots, s)
		}
	}
	for _, m := range members {
		since := m.joined
		if since >= windowStart {
			// Entities register their focal points in the weeks after joining.
			since = mustDate(since).AddDate(0, 0, 7).Format(time.DateOnly)
		}
		add(actor{Entity: m.acronym}, 2+r.intn(5), since)
	}
	for _, o := range orgs {
		add(actor{Org: o.name, Kind: o.kind}, 2+r.intn(5), o.since)
	}
	all := states()
	stateSince := map[string]string{}
	for _, ns := range newStates {
		stateSince[ns.state] = ns.since
	}
	// Every state has one; the rest of the total goes to states by weight (larger states register more).
	stateCount := map[string]int{}
	weight := map[string]int{}
	totalWeight := 0
	for _, s := range all {
		stateCount[s] = 1
		weight[s] = 1 + r.intn(9)
		if stateSince[s] != "" {
			weight[s] = 1
		}
		totalWeight += weight[s]
	}
	remaining := targetFocalPoints + focalPointsRemoved - len(slots) - len(all)
	if remaining < 0 {
		panic("more entity and organization focal points than the total")
	}
	for ; remaining > 0; remaining-- {
		pick := r.intn(totalWeight)
		for _, s := range all {
			if pick < weight[s] {
				stateCount[s]++
				break
			}
			pick -= weight[s]
		}
	}
	for _, s := range all {
		add(actor{State: s}, stateCount[s], stateSince[s])
	}

	// Removals: old focal points of parties with at least two old ones, at most all but one.
	oldByParty := map[string][]int{}
	var parties []string
	for i, s := range slots {
		if s.old {
			k := s.who.key()
			if oldByParty[k] == nil {
				parties = append(parties, k)
			}
			oldByParty[k] = append(oldByParty[k], i)
		}
	}
	for removed := 0; removed < focalPointsRemoved; {
		k := parties[r.intn(len(parties))]
		idx := oldByParty[k]
		var candidates []int
		for _, i := range idx {
			if slots[i].removed == "" {
				candidates = append(candidates, i)
			}
		}
		if len(candidates) < 2 {
			continue
		}
		i := candidates[r.intn(len(candidates))]
		slots[i].removed = r.dateIn(windowStart, asOf)
		removed++
	}

	sort.SliceStable(slots, func(i, j int) bool {
		if slots[i].date != slots[j].date {
			return slots[i].date < slots[j].date
		}
		return slots[i].who.key() < slots[j].who.key()
	})
	type fp struct {
		FocalPoint string `json:"focal_point"`
		Represents actor  `json:"represents"`
		Date       string `json:"date"`
	}
	type dated struct {
		date    string
		removal bool
		e       event
	}
	var evs []dated
	for i := range slots {
		s := &slots[i]
		s.id = fmt.Sprintf("fp-%06d", i+1)
		evs = append(evs, dated{s.date, false, newEvent(secretariat, s.id+".registered",
			"compact.focal_point.registered", at(s.date, 7), fp{s.id, s.who, s.date})})
		if s.removed != "" {
			evs = append(evs, dated{s.removed, true, newEvent(secretariat, s.id+".removed",
				"compact.focal_point.removed", at(s.removed, 7), fp{s.id, s.who, s.removed})})
		}
	}
	// Publish in date order, a day's registrations before its removals.
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].date != evs[j].date {
			return evs[i].date < evs[j].date
		}
		return !evs[i].removal && evs[j].removal
	})
	out := make([]event, len(evs))
	for i, d := range evs {
		out[i] = d.e
	}
	return out
}

// monthStarts are the first days of the window's twelve months.
func monthStarts() []time.Time {
	var out []time.Time
	for m := mustDate(windowStart); m.Format(time.DateOnly) <= asOf; m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

// documentsPerMonth are the documents shared each month of the window.
var documentsPerMonth = []int{52, 41, 63, 71, 66, 38, 55, 60, 74, 69, 62, 58}

func documentCount() int {
	n := 0
	for _, c := range documentsPerMonth {
		n += c
	}
	return n
}

func documentEvents() []event {
	r := &rng{s: 0xD0C5}
	type doc struct {
		Document string `json:"document"`
		Title    string `json:"title"`
		SharedBy actor  `json:"shared_by"`
		Date     string `json:"date"`
	}
	var memberList []string
	for _, m := range members {
		if m.status == "member" && m.joined < windowStart {
			memberList = append(memberList, m.acronym)
		}
	}
	all := states()
	var out []event
	n := 0
	for mi, start := range monthStarts() {
		month := start.Format("January 2006")
		last := start.AddDate(0, 1, -1).Format(time.DateOnly)
		var docs []doc
		for i := 0; i < documentsPerMonth[mi]; i++ {
			date := r.dateIn(start.Format(time.DateOnly), last)
			topic := documentTopics[r.intn(len(documentTopics))]
			var d doc
			switch k := r.intn(10); {
			case k == 0:
				st := all[r.intn(len(all))]
				d = doc{Title: "National submission on " + topic, SharedBy: actor{State: st}}
			case k == 1:
				o := orgs[r.intn(len(orgs)-2)] // the two newest have not shared yet
				d = doc{Title: o.name + ": regional perspectives on " + topic, SharedBy: actor{Org: o.name, Kind: o.kind}}
			case k <= 3:
				wg := workingGroups[r.intn(len(workingGroups))]
				d = doc{Title: wg.short + " Working Group: summary of the " + month + " meeting", SharedBy: actor{Entity: wg.chair}}
			default:
				e := memberList[r.intn(len(memberList))]
				kinds := []string{"programme update on", "good-practice note on", "concept note on", "training materials on", "activity report on"}
				d = doc{Title: e + " " + kinds[r.intn(len(kinds))] + " " + topic + ", " + month, SharedBy: actor{Entity: e}}
			}
			d.Date = date
			docs = append(docs, d)
		}
		sort.SliceStable(docs, func(i, j int) bool { return docs[i].Date < docs[j].Date })
		for _, d := range docs {
			n++
			d.Document = fmt.Sprintf("doc-%06d", n)
			out = append(out, newEvent(secretariat, d.Document+".shared", "compact.document.shared", at(d.Date, 8), d))
		}
	}
	return out
}

func platformEvents() []event {
	type counted struct {
		From  string `json:"from"`
		To    string `json:"to"`
		Count int    `json:"count"`
	}
	var out []event
	for i, start := range monthStarts() {
		from := start.Format(time.DateOnly)
		to := start.AddDate(0, 1, -1).Format(time.DateOnly)
		out = append(out, newEvent(secretariat, "platform.visits."+start.Format("2006-01"), "compact.platform.visits.counted",
			at(to, 6), counted{from, to, monthlyVisits[i]}))
	}
	return out
}

func ctedEvents() []event {
	type visit struct {
		Title      string   `json:"title"`
		Start      string   `json:"start"`
		End        string   `json:"end"`
		Organizers []actor  `json:"organizers"`
		Countries  []string `json:"countries"`
		Purpose    string   `json:"purpose"`
	}
	type issued struct {
		Country string `json:"country"`
		Count   int    `json:"count"`
		Date    string `json:"date"`
	}
	type dated struct {
		date string
		e    event
	}
	var evs []dated
	for _, v := range ctedVisits {
		what := "an assessment visit"
		if v.purpose == "follow_up_assessment" {
			what = "a follow-up assessment visit"
		}
		evs = append(evs, dated{v.start, newEvent("CTED", v.id, "compact.visit.conducted", at(v.end, 9), visit{
			Title: "CTC/CTED conducted " + what + " to " + v.countryName, Start: v.start, End: v.end,
			Organizers: []actor{{Entity: "CTED"}}, Countries: []string{v.country}, Purpose: v.purpose,
		})})
	}
	for _, rec := range ctedRecommendations {
		evs = append(evs, dated{rec.date, newEvent("CTED", "recommendations."+rec.date+"."+rec.country,
			"compact.recommendations.issued", at(rec.date, 9), issued{rec.country, rec.count, rec.date})})
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].date < evs[j].date })
	out := make([]event, len(evs))
	for i, d := range evs {
		out[i] = d.e
	}
	return out
}

// marshal encodes without HTML escaping, so the files read as written ("—", "&", "'").
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func writeJSONL(path string, evs []event) error {
	var b bytes.Buffer
	for _, e := range evs {
		line, err := marshal(e)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		b.Write(line)
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

func readSources(path string, sources map[string]bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var e struct {
			Source string `json:"source"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
		sources[e.Source] = true
	}
	return sc.Err()
}

func writeEntities(path string, sources map[string]bool) error {
	type entity struct {
		Entity string `json:"entity"`
		Name   string `json:"name"`
		Role   string `json:"role"`
	}
	names := map[string]string{secretariat: secretariatName}
	for _, m := range members {
		names[m.acronym] = m.name
	}
	var list []entity
	for src := range sources {
		acr := strings.TrimPrefix(src, "/entities/")
		name, ok := names[acr]
		if !ok {
			return fmt.Errorf("%s publishes in the dataset but is not in the members table", src)
		}
		role := "publisher"
		if acr == secretariat {
			role = "secretariat"
		}
		list = append(list, entity{acr, name, role})
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Entity < list[j].Entity })
	var b bytes.Buffer
	b.WriteString("[\n")
	for i, e := range list {
		line, err := marshal(e)
		if err != nil {
			return err
		}
		b.WriteString("  ")
		b.Write(bytes.TrimSpace(line))
		if i < len(list)-1 {
			b.WriteString(",")
		}
		b.WriteString("\n")
	}
	b.WriteString("]\n")
	return os.WriteFile(path, b.Bytes(), 0o644)
}
