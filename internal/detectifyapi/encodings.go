package detectifyapi

import "encoding/base64"

// secretEncodings are the base64 alphabets a secret may be written in.
var secretEncodings = []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding}
