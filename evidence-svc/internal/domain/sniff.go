package domain

import (
	"bytes"
	"net/http"
	"slices"
	"strings"

	"github.com/contactguard/contactguard/platform/apperr"
)

// SniffLen is how many leading bytes DetectContentType looks at (office
// documents name their parts in the first few kilobytes).
const SniffLen = 8 << 10

// accepted maps each content type accepted as evidence to its file name
// extensions (the first is added when the name lacks one of them).
var accepted = map[string][]string{
	"image/png":  {".png"},
	"image/jpeg": {".jpg", ".jpeg"},
	"image/gif":  {".gif"},
	"image/webp": {".webp"},
	"image/bmp":  {".bmp"},
	"image/heic": {".heic", ".heif"},

	"application/pdf":                         {".pdf"},
	"text/plain; charset=utf-8":               {".txt", ".text", ".log", ".csv"},
	"text/plain; charset=utf-16be":            {".txt"},
	"text/plain; charset=utf-16le":            {".txt"},
	"text/html; charset=utf-8":                {".html", ".htm"},
	"message/rfc822":                          {".eml"},
	"application/rtf":                         {".rtf"},
	"application/vnd.ms-outlook":              {".msg"},
	"application/x-ole-storage":               {".doc", ".xls", ".ppt"},
	"application/vnd.oasis.opendocument.text": {".odt"},
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document":   {".docx"},
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         {".xlsx"},
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": {".pptx"},

	"audio/mpeg": {".mp3"},
	"audio/wave": {".wav"},
	"audio/mp4":  {".m4a"},
	"audio/ogg":  {".ogg", ".oga", ".opus"},
	"audio/amr":  {".amr"},
	"video/mp4":  {".mp4"},
	"video/webm": {".webm"},
}

// AcceptedTypes lists the accepted content types, sorted.
func AcceptedTypes() []string {
	out := make([]string, 0, len(accepted))
	for t := range accepted {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func extensionsOf(contentType string) []string { return accepted[contentType] }

// DetectContentType names the type of content from its first bytes (up to
// SniffLen; all of it when shorter) and refuses types not accepted as
// evidence. The name and any type the uploader claims are not trusted.
func DetectContentType(head []byte) (string, error) {
	if len(head) == 0 {
		return "", apperr.Invalid("content", "is empty: an evidence item needs its file")
	}
	t := sniff(head)
	if _, ok := accepted[t]; !ok {
		what := "of an unknown type"
		if t != "application/octet-stream" {
			what = "of type " + t
		}
		return "", apperr.Invalid("content", "is %s, which is not accepted as evidence; accepted: images (PNG, JPEG, GIF, WebP, BMP, HEIC), PDF, plain text, HTML, email (.eml, .msg), Word, Excel, PowerPoint, OpenDocument text, RTF, audio (MP3, WAV, M4A, Ogg, AMR) and video (MP4, WebM)", what)
	}
	return t, nil
}

var (
	oleMagic   = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	zipMagic   = []byte("PK\x03\x04")
	emailHeads = []string{"received:", "return-path:", "from:", "to:", "subject:", "date:", "message-id:", "mime-version:", "delivered-to:", "x-", "reply-to:", "cc:", "content-type:"}
)

func sniff(head []byte) string {
	switch {
	case bytes.HasPrefix(head, zipMagic):
		return sniffZip(head)
	case bytes.HasPrefix(head, oleMagic):
		// Word/Excel/PowerPoint 97-2003 and Outlook .msg share this container;
		// Outlook names its property streams "__substg1.0_".
		if bytes.Contains(head, utf16("__substg1.0_")) || bytes.Contains(head, utf16("__properties_version1.0")) {
			return "application/vnd.ms-outlook"
		}
		return "application/x-ole-storage"
	case bytes.HasPrefix(head, []byte(`{\rtf`)):
		return "application/rtf"
	case bytes.HasPrefix(head, []byte("#!AMR")):
		return "audio/amr"
	case len(head) >= 12 && string(head[4:8]) == "ftyp":
		switch brand := string(head[8:12]); {
		case brand == "M4A " || brand == "M4B ":
			return "audio/mp4"
		case brand == "heic" || brand == "heix" || brand == "mif1" || brand == "msf1" || brand == "heif":
			return "image/heic"
		}
	case isMP3Frame(head):
		return "audio/mpeg"
	}
	t := http.DetectContentType(head)
	switch t {
	case "application/ogg":
		return "audio/ogg"
	case "text/plain; charset=utf-8":
		if looksLikeEmail(head) {
			return "message/rfc822"
		}
	}
	return t
}

func utf16(s string) []byte {
	out := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, s[i], 0)
	}
	return out
}

// sniffZip accepts only the zip files that are office documents: OOXML
// (a [Content_Types].xml part plus word/, xl/ or ppt/) and OpenDocument
// text (a first "mimetype" entry). Other archives could hide anything.
func sniffZip(head []byte) string {
	const odt = "mimetypeapplication/vnd.oasis.opendocument.text"
	if end := 30 + len(odt); len(head) >= end && string(head[30:end]) == odt && (len(head) == end || head[end] != '-') {
		return "application/vnd.oasis.opendocument.text"
	}
	if bytes.Contains(head, []byte("[Content_Types].xml")) {
		switch {
		case bytes.Contains(head, []byte("word/")):
			return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
		case bytes.Contains(head, []byte("xl/")):
			return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
		case bytes.Contains(head, []byte("ppt/")):
			return "application/vnd.openxmlformats-officedocument.presentationml.presentation"
		}
	}
	return "application/zip"
}

// isMP3Frame recognises an MPEG audio frame header without an ID3 tag
// (call recorders often write none): 11 sync bits, a valid version, layer
// III, a valid bitrate and sample rate.
func isMP3Frame(h []byte) bool {
	if len(h) < 4 || h[0] != 0xFF || h[1]&0xE0 != 0xE0 {
		return false
	}
	version, layer := (h[1]>>3)&3, (h[1]>>1)&3
	bitrate, rate := h[2]>>4, (h[2]>>2)&3
	return version != 1 && layer == 1 && bitrate != 0 && bitrate != 15 && rate != 3
}

// looksLikeEmail recognises a saved email (.eml): it starts with header
// lines, and among the first of them are From and one of Subject, Date,
// Received or Message-ID.
func looksLikeEmail(head []byte) bool {
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	seen := map[string]bool{}
	for i, l := range lines {
		if i >= 40 || l == "" {
			break
		}
		if l[0] == ' ' || l[0] == '\t' {
			continue // folded header line
		}
		name, _, ok := strings.Cut(l, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			return false
		}
		name = strings.ToLower(name) + ":"
		for _, h := range emailHeads {
			if name == h || (h == "x-" && strings.HasPrefix(name, h)) {
				seen[h] = true
			}
		}
	}
	return seen["from:"] && (seen["subject:"] || seen["date:"] || seen["received:"] || seen["message-id:"])
}
