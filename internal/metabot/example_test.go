package metabot_test

import (
	"context"
	"fmt"
	"time"

	"github.com/b24ops/b24-operator/internal/metabot"
	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

// The caller decides what to do from the error's kind alone.
func ExampleClient_Schedule() {
	sim := metabottest.NewServer()
	defer sim.Close()
	sim.AddBot(1234, "api-user-token")
	sim.InjectFault(1, metabottest.ProcessThenFail(502))

	c, err := metabot.New(sim.URL, 1234, "api-user-token", metabot.WithCABundle(sim.CAPEM()))
	if err != nil {
		panic(err)
	}
	job := metabot.Job{
		Target:      metabot.ScriptCode("weekly_digest"),
		LeadID:      135,
		RunAfterSec: metabot.RunAfter(5 * time.Minute),
		AddTags:     []string{"digest", "weekly"},
	}
	for range 2 {
		_, err := c.Schedule(context.Background(), job)
		switch {
		case err == nil:
			fmt.Println("accepted")
		case metabot.IsAmbiguous(err):
			fmt.Println("outcome unknown, do not resend:", err)
		case metabot.IsRetryable(err):
			fmt.Println("not scheduled, retry after", metabot.RetryAfter(err))
		default:
			fmt.Println("not scheduled, fix the spec or credentials:", err)
		}
	}
	fmt.Println("jobs on the platform:", sim.JobCount())
	// Output:
	// outcome unknown, do not resend: metabot: schedule job: HTTP 502 Bad Gateway: Injected fault: Bad Gateway (ambiguous)
	// accepted
	// jobs on the platform: 2
}
