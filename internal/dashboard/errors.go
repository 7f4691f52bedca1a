package dashboard

import "errors"

// Errors of New and Config.Validate, checkable with errors.Is.
var (
	// ErrConfig is wrapped by every configuration the dashboard refuses.
	ErrConfig = errors.New("dashboard configuration")
	// ErrNeedToken means the listen address is not loopback and no token
	// was given: anyone who can reach the address could act on tasks.
	ErrNeedToken = errors.New("a token is required to listen off loopback")
)
