package bulwark

import (
	"reflect"
	"strings"
	"testing"
)

// TestCallsAreSideEffects: a call of another program's tool (an MCP tool
// that does not declare itself read-only) is a side effect, so a tainted
// task asks before it; a read-only one (no Calls) is not.
func TestCallsAreSideEffects(t *testing.T) {
	if (Effects{}).SideEffects("scratch", nil) {
		t.Error("no effects reported as a side effect")
	}
	if !(Effects{Calls: []string{"github/create_issue"}}).SideEffects("scratch", nil) {
		t.Error("a call of an MCP tool is not a side effect")
	}
	if s := (Effects{Calls: []string{"github/create_issue"}}).Summary(); !strings.Contains(s, "calls github/create_issue") {
		t.Errorf("Summary = %q", s)
	}
}

// TestMaskCoversEveryField: Mask passes every string of Effects through
// the mask and keeps every other field; a field added to Effects and left
// out of Mask fails here.
func TestMaskCoversEveryField(t *testing.T) {
	var e Effects
	v := reflect.ValueOf(&e).Elem()
	for i := 0; i < v.NumField(); i++ {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("SECRET")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"SECRET"}))
		case reflect.Bool:
			f.SetBool(true)
		default:
			t.Fatalf("field %s of kind %s: teach this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	m := e.Mask(func(s string) string { return strings.ReplaceAll(s, "SECRET", "***") })
	mv := reflect.ValueOf(m)
	for i := 0; i < mv.NumField(); i++ {
		name, f := mv.Type().Field(i).Name, mv.Field(i)
		switch f.Kind() {
		case reflect.String:
			if f.String() != "***" {
				t.Errorf("Mask left %s = %q", name, f.String())
			}
		case reflect.Slice:
			if f.Len() != 1 || f.Index(0).String() != "***" {
				t.Errorf("Mask left %s = %v", name, f.Interface())
			}
		case reflect.Bool:
			if !f.Bool() {
				t.Errorf("Mask dropped %s", name)
			}
		}
	}
}
