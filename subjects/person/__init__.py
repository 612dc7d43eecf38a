"""The person's steps: start with an e-mail address, send a selfie (or pass
the camera check), answer about the matches, file, withdraw."""
