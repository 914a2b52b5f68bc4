package amazonebs

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"io"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"

	gossh "golang.org/x/crypto/ssh"
)

// newKey generates a private key of type "ed25519" or "rsa" and returns its
// signer and its OpenSSH PEM encoding.
func newKey(typ string) (gossh.Signer, []byte, error) {
	var priv crypto.Signer
	switch typ {
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return nil, nil, err
		}
		priv = k
	default:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		priv = k
	}
	signer, err := gossh.NewSignerFromSigner(priv)
	if err != nil {
		return nil, nil, err
	}
	block, err := gossh.MarshalPrivateKey(priv, "kiln")
	if err != nil {
		return nil, nil, err
	}
	return signer, pem.EncodeToMemory(block), nil
}

// authorizedKey returns k in authorized_keys format without the newline.
func authorizedKey(k gossh.PublicKey) string {
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
}

// cloudConfig is the cloud-init configuration kiln passes to the instance:
// the host key it will verify, and the login key.
func cloudConfig(hostKeyPEM []byte, hostPub, loginPub string) string {
	var b strings.Builder
	b.WriteString("#cloud-config\n")
	b.WriteString("ssh_keys:\n  ed25519_private: |\n")
	for _, line := range strings.Split(strings.TrimSpace(string(hostKeyPEM)), "\n") {
		b.WriteString("    " + line + "\n")
	}
	b.WriteString("  ed25519_public: " + hostPub + "\n")
	if loginPub != "" {
		b.WriteString("ssh_authorized_keys:\n  - " + loginPub + "\n")
	}
	return b.String()
}

// userData merges kiln's cloud-config with the user's user data. Without
// user data it is the cloud-config alone; otherwise a MIME multipart
// message that cloud-init reads part by part, with kiln's part last and
// merging so that its keys are added to the user's settings.
func userData(kiln string, user []byte) (string, error) {
	if len(bytes.TrimSpace(user)) == 0 {
		return kiln, nil
	}
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	fmt.Fprintf(&buf, "Content-Type: multipart/mixed; boundary=%q\nMIME-Version: 1.0\n\n", w.Boundary())
	hdr, body, err := userPart(user)
	if err != nil {
		return "", err
	}
	p, err := w.CreatePart(hdr)
	if err != nil {
		return "", err
	}
	p.Write(body)
	p, err = w.CreatePart(textproto.MIMEHeader{
		"Content-Type":        {`text/cloud-config; charset="utf-8"`},
		"Content-Disposition": {`attachment; filename="kiln-ssh.cfg"`},
		"Merge-Type":          {"dict(recurse_array,no_replace)+list(append)+str()"},
	})
	if err != nil {
		return "", err
	}
	p.Write([]byte(kiln))
	if err := w.Close(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// userPart returns the MIME header and body for the user's user data,
// typed by its first line as cloud-init types it.
func userPart(user []byte) (textproto.MIMEHeader, []byte, error) {
	if bytes.HasPrefix(user, []byte("Content-Type:")) || bytes.HasPrefix(user, []byte("MIME-Version:")) {
		// Already a MIME entity: keep its own headers.
		msg, err := mail.ReadMessage(bytes.NewReader(user))
		if err != nil {
			return nil, nil, fmt.Errorf("read user_data as MIME: %w", err)
		}
		body, err := io.ReadAll(msg.Body)
		if err != nil {
			return nil, nil, fmt.Errorf("read user_data as MIME: %w", err)
		}
		return textproto.MIMEHeader(msg.Header), body, nil
	}
	typ := "text/plain"
	for _, p := range userDataTypes {
		if bytes.HasPrefix(user, []byte(p.prefix)) {
			typ = p.typ
			break
		}
	}
	return textproto.MIMEHeader{
		"Content-Type":        {typ + `; charset="utf-8"`},
		"Content-Disposition": {`attachment; filename="user-data"`},
	}, user, nil
}

// userDataTypes are cloud-init's content types by first line.
var userDataTypes = []struct{ prefix, typ string }{
	{"#!", "text/x-shellscript"},
	{"#cloud-config", "text/cloud-config"},
	{"#include", "text/x-include-url"},
	{"#cloud-boothook", "text/cloud-boothook"},
	{"#part-handler", "text/part-handler"},
	{"## template: jinja", "text/jinja2"},
}

// writeDebugKey writes a private key for -debug, mode 0600, in the current
// directory, and returns its path.
func writeDebugKey(name string, pemBytes []byte) (string, error) {
	path, err := filepath.Abs(name)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
		return "", fmt.Errorf("write debug key: %w", err)
	}
	return path, nil
}
