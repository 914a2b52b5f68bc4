// Package communicator defines how kiln talks to a machine being built: run a
// command, upload and download files. Builders create a Communicator once the
// machine is reachable and hand it to provisioners through the build hook.
//
// It sits in kiln's contracts layer; communicator/ssh is the implementation
// over SSH and SFTP.
package communicator
