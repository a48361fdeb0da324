package main

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/b24ops/b24-operator/internal/metabot/metabottest"
)

// credentialsFile is written to --cert-dir (mode 0600) for `make run` and scripts: everything
// a client needs to call the simulators. It is the only place secrets are written.
const credentialsFile = "credentials.json"

type credentials struct {
	URL     string             `json:"url"`
	CAFile  string             `json:"ca_file"`
	Bitrix  bitrixCredentials  `json:"bitrix"`
	Metabot metabotCredentials `json:"metabot"`
}

type bitrixCredentials struct {
	// PortalURL is the portal's URL for a Portal's spec.url.
	PortalURL string               `json:"portal_url"`
	TokenURL  string               `json:"token_url,omitempty"`
	Webhooks  []webhookCredentials `json:"webhooks"`
	OAuthApps []oauthCredentials   `json:"oauth_apps"`
}

type webhookCredentials struct {
	UserID int    `json:"user_id"`
	Code   string `json:"code"`
	URL    string `json:"url"`
}

type oauthCredentials struct {
	ClientID     string    `json:"client_id"`
	ClientSecret string    `json:"client_secret"`
	AccessToken  string    `json:"access_token"`
	RefreshToken string    `json:"refresh_token"`
	ExpiresAt    time.Time `json:"expires_at"`
}

type metabotCredentials struct {
	URL     string                  `json:"url"`
	APIPath string                  `json:"api_path"`
	Bots    []metabotBotCredentials `json:"bots"`
}

type metabotBotCredentials struct {
	ID    int64  `json:"id"`
	Token string `json:"token"`
}

// bitrixSim is what b24sim needs from the Bitrix24 simulator.
type bitrixSim interface {
	http.Handler
	// credentials returns what credentials.json says about the portal.
	credentials() bitrixCredentials
	// state returns a JSON-encodable view of the portal without tokens.
	state() any
}

// simState is the answer of GET /_sim/state. It holds no tokens, secrets or webhook codes.
type simState struct {
	Bitrix  any          `json:"bitrix"`
	Metabot metabotState `json:"metabot"`
}

type metabotState struct {
	Bots     []int64           `json:"bots"`
	Requests int               `json:"requests"`
	Jobs     []metabottest.Job `json:"jobs"`
}

func stateHandler(mb *metabottest.Platform, bx bitrixSim) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := simState{
			Bitrix: bx.state(),
			Metabot: metabotState{
				Bots:     mb.Bots(),
				Requests: mb.Requests(),
				Jobs:     mb.Jobs(),
			},
		}
		if st.Metabot.Jobs == nil {
			st.Metabot.Jobs = []metabottest.Job{}
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(st)
	})
}
