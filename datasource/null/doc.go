// Package null is the null data source (data "null" "NAME"): it returns its
// input as its output, which is useful to name an intermediate value or to
// test templates. It sits with the other data sources, above the datasource
// contract.
package null
