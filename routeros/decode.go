package routeros

import "github.com/wanctl/wanctl/routeros/internal/restjson"

// decodeObjects decodes a menu's reply; only a JSON array is a menu, except
// for singleton menus, whose reply is one object.
func decodeObjects(body []byte, singleton bool) ([]Object, error) {
	ms, err := restjson.Objects(body, singleton)
	if err != nil {
		return nil, err
	}
	objs := make([]Object, len(ms))
	for i, m := range ms {
		objs[i] = m
	}
	return objs, nil
}

// decodeObject decodes a reply holding one object (GET by id).
func decodeObject(body []byte) (Object, error) {
	o, err := restjson.OneObject(body)
	return Object(o), err
}

// decodeWritten decodes the reply to a PUT or PATCH: the object written,
// with its .id.
func decodeWritten(body []byte) (Object, error) {
	o, err := restjson.Written(body)
	return Object(o), err
}

func snippet(b []byte, n int) string { return restjson.Snippet(b, n) }
