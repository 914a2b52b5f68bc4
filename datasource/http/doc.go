// Package http is the http data source (data "http" "NAME"), as in Packer:
// it sends one HTTP request (GET by default) when data sources are
// evaluated and returns the response body, status code and headers. A
// status outside 2xx, or no answer within the timeout, is an error that
// names the URL. It sits with the other data sources, above the datasource
// contract.
package http
