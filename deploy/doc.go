// Package deploy holds the deployment files: the systemd unit
// (bulwark.service, the subuids.conf drop-in, the bulwark-admin wrapper)
// and the compose file for the repository's Dockerfile. It has no code;
// its tests check that the files keep the promises deploy/README.md
// makes, and that they parse.
package deploy
