package schemas

import "testing"

// A typical activity as publishers send it: the seed's retreat item.
var benchMeeting = []byte(`{
  "title": "The UN Global Counter-Terrorism Coordination Compact held its first-ever retreat to strengthen partnerships with regional organizations",
  "start": "2025-06-25",
  "organizers": [{"entity": "UNOCT"}, {"entity": "CTED"}],
  "partners": [{"state": "QAT"}, {"org": "Gulf Cooperation Council", "kind": "regional"}],
  "countries": ["USA"],
  "participants": 100,
  "format": "retreat",
  "links": [{"url": "https://www.un.org/counterterrorism/", "label": "UNOCT"}]
}`)

func BenchmarkValidate(b *testing.B) {
	v := Default()
	if err := v.Validate("compact.meeting.held", benchMeeting); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchMeeting)))
	for b.Loop() {
		if err := v.Validate("compact.meeting.held", benchMeeting); err != nil {
			b.Fatal(err)
		}
	}
}
