package server

import (
	"github.com/bulwark-agents/bulwark/web"
)

// pageRoutes are the routes of the browser UI (package web): a page shell
// for each of web.Pages and the embedded assets. They are browser routes
// that take no credentials (a page holds no data; its script reads the
// API with the session cookie, and an API key is refused here as on
// every browser route), so they need no role; they are rate limited by
// client address like login. Each page sets web.CSP, stricter than the
// default.
func (s *Server) pageRoutes() ([]Route, error) {
	ui, err := web.New()
	if err != nil {
		return nil, err
	}
	routes := []Route{{Method: "GET", Pattern: web.AssetsPath, Side: Browser, Handler: ui.ServeAsset}}
	for _, p := range web.Pages {
		routes = append(routes, Route{Method: "GET", Pattern: p.Path, Side: Browser, Handler: ui.ServePage(p)})
	}
	return routes, nil
}

// handlePages adds the UI's routes to the table.
func (s *Server) handlePages() error {
	routes, err := s.pageRoutes()
	if err != nil {
		return err
	}
	return s.Handle(routes...)
}
