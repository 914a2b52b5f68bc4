package testmoto

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"sync"
	"testing"
)

// Proxy stands between a client and moto_server as the network stands
// between kiln and EC2: every call it receives reaches moto, even when the
// client hangs up on it first (EC2 does what it was asked although the
// caller saw only an error). It records the API action of every call, and
// it can hold the answers of an action so that a test can kill the client
// while a call it made has been done but not answered.
type Proxy struct {
	// URL is the proxy's base URL, "http://127.0.0.1:PORT".
	URL string

	gate    func() (done func())
	forward *httputil.ReverseProxy

	mu       sync.Mutex
	idle     *sync.Cond // signalled when busy drops to zero
	busy     int        // calls received and not yet done by moto
	actions  []string   // the actions seen since Actions, first sighting first
	hold     string     // the action whose answers are held
	held     chan struct{}
	heldOnce *sync.Once
	release  chan struct{}
}

// NewProxy starts a proxy in front of target (a moto Server's Endpoint),
// closed when t ends. gate, when not nil, is called as each call arrives,
// before it goes on to moto; the done func it returns is called once moto
// has answered it: a test can hold calls there to choose when they land.
func NewProxy(t testing.TB, target string, gate func() (done func())) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("moto proxy: %v", err)
	}
	p := &Proxy{gate: gate, forward: httputil.NewSingleHostReverseProxy(u)}
	p.idle = sync.NewCond(&p.mu)
	p.forward.ErrorLog = log.New(io.Discard, "", 0) // a client hanging up is expected
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	t.Cleanup(p.Release) // before the server closes: no handler stays blocked
	p.URL = srv.URL
	return p
}

// action names the API call of req: the Action of an EC2 query call, or
// the X-Amz-Target of a JSON one (SSM, STS).
func action(req *http.Request, body []byte) string {
	if target := req.Header.Get("X-Amz-Target"); target != "" {
		return target
	}
	form, _ := url.ParseQuery(string(body))
	return form.Get("Action")
}

func (p *Proxy) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	act := action(req, body)

	p.mu.Lock()
	p.busy++
	if !slices.Contains(p.actions, act) {
		p.actions = append(p.actions, act)
	}
	holding := p.hold != "" && p.hold == act
	held, once, release := p.held, p.heldOnce, p.release
	p.mu.Unlock()

	// toMoto passes the call on and writes moto's answer to w.
	toMoto := func(w http.ResponseWriter) {
		done := func() {}
		if p.gate != nil {
			done = p.gate()
		}
		p.forward.ServeHTTP(w, req.WithContext(context.WithoutCancel(req.Context())))
		done()
		p.mu.Lock()
		p.busy--
		if p.busy == 0 {
			p.idle.Broadcast()
		}
		p.mu.Unlock()
	}
	if !holding {
		toMoto(w)
		return
	}
	rec := httptest.NewRecorder()
	toMoto(rec)
	once.Do(func() { close(held) })
	<-release
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// Actions returns the API actions the proxy has seen since the last call
// of Actions, each once, in the order it first saw them.
func (p *Proxy) Actions() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	seen := p.actions
	p.actions = nil
	return seen
}

// Hold makes the proxy hold the answers of every call of action from now
// on, after moto has done the call, until Release. The channel returned is
// closed once moto has done the first of them. A new Hold releases the
// answers the last one held.
func (p *Proxy) Hold(action string) <-chan struct{} {
	p.Release()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hold, p.held, p.heldOnce, p.release = action, make(chan struct{}), &sync.Once{}, make(chan struct{})
	return p.held
}

// Release sends the held answers on (to a client that may be gone) and
// stops holding.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.release != nil {
		close(p.release)
	}
	p.hold, p.held, p.heldOnce, p.release = "", nil, nil, nil
}

// Idle waits until moto has done every call the proxy received: what a
// killed client sent has then landed, and a sweep after it sees it all.
func (p *Proxy) Idle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.busy > 0 {
		p.idle.Wait()
	}
}
