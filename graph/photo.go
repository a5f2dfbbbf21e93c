package graph

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	_ "image/png" // PNG photos are decoded when they must be downscaled
	"net/http"

	crm "github.com/crmsync/crmsync"
)

// MaxPhotoBytes is the largest photo Graph accepts in one request (§1.4:
// 4 MB per REST request). Larger photos are downscaled (SPEC S9).
const MaxPhotoBytes = 4 << 20

// preparePhoto returns the bytes to upload for photo and their content
// type: the photo itself when it is a JPEG or PNG of at most max bytes,
// otherwise a JPEG downscaled with a box filter until it fits. A photo that
// is neither JPEG nor PNG is EINVALID.
func preparePhoto(photo []byte, max int) ([]byte, string, error) {
	ct := http.DetectContentType(photo)
	if ct != "image/jpeg" && ct != "image/png" {
		return nil, "", crm.Errorf(crm.EINVALID, "the contact photo is %s; Outlook takes JPEG or PNG", ct)
	}
	if len(photo) <= max {
		return photo, ct, nil
	}
	img, _, err := image.Decode(bytes.NewReader(photo))
	if err != nil {
		return nil, "", crm.Errorf(crm.EINVALID, "the contact photo cannot be decoded: %v", err)
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	for range 12 {
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
			return nil, "", fmt.Errorf("encoding a downscaled photo: %w", err)
		}
		if buf.Len() <= max {
			return buf.Bytes(), "image/jpeg", nil
		}
		w, h = w*3/4, h*3/4
		if w < 1 || h < 1 {
			break
		}
		img = boxScale(img, w, h)
	}
	return nil, "", crm.Errorf(crm.EINVALID, "the contact photo cannot be made smaller than %d bytes", max)
}

// boxScale shrinks src to w×h, each output pixel the mean of the source
// pixels it covers.
func boxScale(src image.Image, w, h int) image.Image {
	b := src.Bounds()
	sw, sh := b.Dx(), b.Dy()
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		y0, y1 := y*sh/h, max((y+1)*sh/h, y*sh/h+1)
		for x := range w {
			x0, x1 := x*sw/w, max((x+1)*sw/w, x*sw/w+1)
			var r, g, bl, a, n uint64
			for sy := y0; sy < y1; sy++ {
				for sx := x0; sx < x1; sx++ {
					cr, cg, cb, ca := src.At(b.Min.X+sx, b.Min.Y+sy).RGBA()
					r, g, bl, a, n = r+uint64(cr), g+uint64(cg), bl+uint64(cb), a+uint64(ca), n+1
				}
			}
			dst.SetRGBA(x, y, color.RGBA{uint8(r / n >> 8), uint8(g / n >> 8), uint8(bl / n >> 8), uint8(a / n >> 8)})
		}
	}
	return dst
}
