package render

import (
	"compact/projections"
)

// sampleReview is a hand-built review shaped like the seed's May-June 2025 issue: a few items in
// most sections (one section empty), links, a month-precision item, a corrected item, six periods
// of history, the structure and a checkpoint.
func sampleReview() *projections.Review {
	sec := func(id string, items ...projections.Item) projections.Section {
		for _, d := range projections.Sections {
			if d.ID == id {
				return projections.Section{ID: id, Group: d.Group, Heading: d.Heading, Items: items}
			}
		}
		panic("unknown section " + id)
	}
	hist := func(asOf string, base int64) projections.Counters {
		return projections.Counters{
			AsOf: asOf, Entities: 44 + base/40, MemberStates: 132 + base/20, Organizations: 12 + base/50,
			FocalPoints: 916 + base, DocumentsShared: 3054 + 5*base, VirtualVisits: 313680 + 700*base,
			TARecommendations: 742 + base, CountryAssessments: 21 + base/20,
		}
	}
	now := projections.Counters{
		AsOf: "2025-06-30", Entities: 46, MemberStates: 137, Organizations: 14, FocalPoints: 1050,
		DocumentsShared: 3670, VirtualVisits: 407000, TARecommendations: 861, CountryAssessments: 28, Seq: 1977,
	}
	return &projections.Review{
		Period: "2025-05", Title: "Counter-Terrorism Compact in Review May-June 2025",
		From: "2025-05-01", To: "2025-06-30",
		Counters: now,
		History: []projections.Counters{
			hist("2024-08-31", 0), hist("2024-10-31", 25), hist("2024-12-31", 51), hist("2025-02-28", 80),
			hist("2025-04-30", 99), now,
		},
		Sections: []projections.Section{
			sec("leadership.high_level_events",
				projections.Item{Source: "/entities/INTERPOL", ID: "2025-05-05-global-congress-chemical-security", Seq: 1930,
					Type: "compact.meeting.held", Title: "INTERPOL co-organized the 5th Global Congress on Chemical Security and Emerging Threats, gathering 320 experts from 100 countries and 6 IOs",
					Start: "2025-05-05", End: "2025-05-08", Dates: "5-8 May", Placement: "rule"},
				projections.Item{Source: "/entities/OSAPG", ID: "2025-06-16-hate-speech-ai-hle", Seq: 1932,
					Type: "compact.meeting.held", Title: "The Permanent Mission of Morocco to the UN and UN OSAPG held a high-level event on Hate Speech and Artificial Intelligence",
					Start: "2025-06-16", End: "2025-06-18", Dates: "16-18 June", Placement: "rule",
					Links: []projections.Link{{URL: "https://www.un.org/en/hate-speech/events/high-level-event", Label: "high-level event"}}},
			),
			sec("leadership.key_issues",
				projections.Item{Source: "/entities/UNOCT", ID: "2025-06-25-retreat-remarks-voronkov", Seq: 1935,
					Type: "compact.statement.made", Title: `UNOCT USG Voronkov stressed that "proactive regional engagement can pave the way" for the Compact`,
					Start: "2025-06-25", Dates: "25 June", Placement: "rule", Speaker: "UNOCT USG Voronkov", Role: "USG", Quote: "proactive regional engagement can pave the way"},
			),
			sec("member_states",
				projections.Item{Source: "/entities/UNODC", ID: "2025-05-nga-technical-support", Seq: 1940, CorrectedSeq: 1975,
					Type: "compact.assistance.provided", Title: "UNODC provided technical support in Nigeria on IED and crime scene investigation",
					Start: "2025-05-01", End: "2025-06-30", DatePrecision: "month", Dates: "May-June", Placement: "rule"},
				projections.Item{Source: "/entities/CTED", ID: "2025-06-16-hun-assessment", Seq: 1941,
					Type: "compact.visit.conducted", Title: "CTC/CTED conducted a first assessment visit to Hungary",
					Start: "2025-06-16", End: "2025-06-18", Placement: "rule"}, // Dates left to FormatDates
			),
			sec("guidance.working_groups"),
			sec("guidance.publications",
				projections.Item{Source: "/entities/UNIDIR", ID: "2025-06-30-future-of-space-security-ai", Seq: 1950,
					Type: "compact.publication.released", Title: "UNIDIR report analyses The Future of Space Security in the Age of Artificial Intelligence",
					Start: "2025-06-30", Dates: "30 June", Placement: "rule",
					Links: []projections.Link{
						{URL: "https://unidir.org/publication/space-security-ai", Label: "Space Security"},
						{URL: "https://unidir.org/files/space-security-ai.pdf", Label: "Full report (PDF)"},
					}},
			),
			sec("whats_new",
				projections.Item{Source: "/entities/UNOCT", ID: "2025-06-25-compact-section-team-leader", Seq: 1955,
					Type: "compact.announcement.made", Title: "At the Compact Retreat, Ms. Saule Mektepbayeva was introduced as the new team leader of the Compact section",
					Start: "2025-06-25", Dates: "25 June", Placement: "rule"},
			),
			sec("joint.multi_agency",
				projections.Item{Source: "/entities/UNOCT", ID: "2025-05-26-salw-seminar-kgz", Seq: 1960,
					Type: "compact.training.delivered", Title: "UNOCT and UNODC held a national seminar in the Kyrgyz Republic on SALW trafficking",
					Start: "2025-05-26", End: "2025-05-27", Dates: "26-27 May", Placement: "rule"},
			),
			sec("joint.regional_focus"),
			sec("joint.civil_society",
				projections.Item{Source: "/entities/CTED", ID: "2025-05-05-oversight-accountability-ssea", Seq: 1965,
					Type: "compact.meeting.held", Title: "CTED and the IIJ held a regional event on oversight of national security agencies in South and South-East Asia",
					Start: "2025-05-05", End: "2025-05-06", Dates: "5-6 May", Placement: "rule",
					Links: []projections.Link{{URL: "https://www.un.org/securitycouncil/ctc/news/regional-event", Label: "regional event"}}},
			),
		},
		Structure: &projections.Structure{
			AsOf: "2025-06-30",
			WorkingGroups: []projections.Unit{
				{Unit: "pcve", Kind: "working_group", Name: "Preventing and countering violent extremism conducive to terrorism", Pillar: "I",
					Chair: "UNOCT", ViceChairs: []string{"UNAOC", "UNDP", "UNESCO"}, Seq: 50},
				{Unit: "bmle", Kind: "working_group", Name: "Border management and law enforcement relating to counter-terrorism", Pillar: "II",
					Chair: "CTED", CoChairs: []string{"WCO"}, ViceChairs: []string{"INTERPOL", "UNODC"}, Seq: 51},
				{Unit: "etcip", Kind: "working_group", Name: "Emerging threats and critical infrastructure protection", Pillar: "II",
					Chair: "INTERPOL", ViceChairs: []string{"UNODA", "UNICRI", "OPCW"}, Seq: 52},
				{Unit: "hrrol-vot", Kind: "working_group", Name: "Promoting and protecting human rights and the rule of law while countering terrorism and supporting victims of terrorism", Pillar: "IV",
					Chair: "OHCHR", ViceChairs: []string{"UNOCT"}, Seq: 53},
			},
			CoordinationCommittee: &projections.Unit{Unit: "coordination-committee", Kind: "coordination_committee",
				Name: "Counter-Terrorism Compact Coordination Committee", Chair: "UNOCT",
				Description: "Chaired by the Under-Secretary-General for Counter-Terrorism and Head of UNOCT.", Seq: 54},
			Secretariat: &projections.Unit{Unit: "secretariat", Kind: "secretariat", Name: "Counter-Terrorism Compact Secretariat",
				Description: "UNOCT's Policy, Knowledge Management and Coordination Branch (PKMCB).", Seq: 55},
		},
		Version: 52,
		Provenance: projections.Provenance{FirstSeq: 1, LastSeq: 1977, ViewVersion: 1,
			CheckpointSize: 1977, CheckpointRoot: "q1x0aY3Zb+8n2m/9Kc7d4Q5r6s0tUvWxYzAbCdEfGhI="},
	}
}

// emptyReview is a period nothing was published for, on a ledger without checkpoints.
func emptyReview() *projections.Review {
	r := &projections.Review{Period: "2025-07", From: "2025-07-01", To: "2025-08-31",
		Counters: projections.Counters{AsOf: "2025-08-31"}}
	for _, d := range projections.Sections {
		r.Sections = append(r.Sections, projections.Section{ID: d.ID, Group: d.Group, Heading: d.Heading, Items: []projections.Item{}})
	}
	return r
}
