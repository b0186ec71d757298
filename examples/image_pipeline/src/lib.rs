//! Example proto2ffi library: the deployment guide's image pipeline
//! (`proto/image.proto`).
//!
//! Frames never cross the boundary: the caller owns an RGBA buffer
//! (64-byte aligned, the `simd = true` rule), fills it in place — from Dart
//! through a typed-list view — and passes a 16-byte `ImageBuffer` that
//! points at it. The in-place operations take that struct as their
//! response, so the guard checks the reference (alignment, bounds,
//! `max_count`) before the handler rewrites the pixels; [`kernels`] holds
//! the scalar, AVX2 and NEON implementations, chosen at run time.

use proto2ffi::Status;

pub mod kernels;

/// Generated from `proto/image.proto`.
pub mod pb {
    proto2ffi::include_proto!("image.v1");
}
use kernels::Impl;
use pb::fixed::{Adjust, HistogramRequest, ImageBuffer, LumaHistogram};
use pb::{Features, FeaturesRequest, Kernel};

proto2ffi::library!(
    prefix = "image",
    init = || register_image_pipeline(Pipeline)
);
pub use pb::register_image_pipeline;

/// The implementation a request asks for.
fn choose(kernel: Result<Kernel, proto2ffi::prost::UnknownEnumValue>) -> Result<Impl, Status> {
    let k = match kernel {
        Ok(Kernel::Auto) => return Ok(Impl::best()),
        Ok(Kernel::Scalar) => Impl::Scalar,
        Ok(Kernel::Avx2) => Impl::Avx2,
        Ok(Kernel::Neon) => Impl::Neon,
        Err(e) => return Err(Status::invalid_argument(format!("unknown kernel {}", e.0))),
    };
    if k.is_available() {
        Ok(k)
    } else {
        Err(Status::failed_precondition(
            kernels::Unavailable(k).to_string(),
        ))
    }
}

fn kernel_of(k: Impl) -> Kernel {
    match k {
        Impl::Scalar => Kernel::Scalar,
        Impl::Avx2 => Kernel::Avx2,
        Impl::Neon => Kernel::Neon,
    }
}

/// The pixels of an image whose reference the guard has checked, after
/// checking that there are `width * height` of them.
fn pixels_of(image: &mut ImageBuffer) -> Result<(&mut [u32], usize, usize), Status> {
    let (w, h) = (image.width as usize, image.height as usize);
    let len = image.data_ref().len as usize;
    if w.checked_mul(h) != Some(len) {
        return Err(Status::invalid_argument(format!(
            "a {w}x{h} image has {} pixels, its data holds {len}",
            w as u64 * h as u64
        )));
    }
    // SAFETY: the guard checked the reference before the handler (a
    // response with array references is checked first): non-null, aligned
    // to 64, `capacity` elements in bounds, lent by the caller for the call.
    let storage = unsafe { image.data_storage_mut() };
    Ok((&mut storage[..len], w, h))
}

struct Pipeline;

impl pb::ImagePipeline for Pipeline {
    fn grayscale(&self, request: &Adjust, response: &mut ImageBuffer) -> Result<(), Status> {
        let k = choose(request.kernel())?;
        let (pixels, _, _) = pixels_of(response)?;
        kernels::grayscale(k, pixels).map_err(|e| Status::failed_precondition(e.to_string()))
    }

    fn brightness(&self, request: &Adjust, response: &mut ImageBuffer) -> Result<(), Status> {
        let k = choose(request.kernel())?;
        if !(-255..=255).contains(&request.amount) {
            return Err(Status::invalid_argument(format!(
                "brightness amount {} is outside -255..=255",
                request.amount
            )));
        }
        let (pixels, _, _) = pixels_of(response)?;
        kernels::brightness(k, pixels, request.amount)
            .map_err(|e| Status::failed_precondition(e.to_string()))
    }

    fn box_blur(&self, request: &Adjust, response: &mut ImageBuffer) -> Result<(), Status> {
        let k = choose(request.kernel())?;
        let radius = request.radius;
        let (pixels, w, h) = pixels_of(response)?;
        kernels::box_blur(k, pixels, w, h, radius).map_err(|e| match e {
            kernels::BlurError::Unavailable(u) => Status::failed_precondition(u.to_string()),
            kernels::BlurError::BadRadius(_) => Status::invalid_argument(e.to_string()),
        })
    }

    fn histogram(
        &self,
        request: &HistogramRequest,
        response: &mut LumaHistogram,
    ) -> Result<(), Status> {
        let k = choose(request.kernel())?;
        // SAFETY: the guard checked the request's reference.
        let pixels = unsafe { request.image.data_slice() };
        let mut bins = [0u32; 256];
        kernels::histogram(k, pixels, &mut bins)
            .map_err(|e| Status::failed_precondition(e.to_string()))?;
        response.set_bins(&bins)?;
        response.pixels = pixels.len() as u64;
        response.set_kernel(kernel_of(k));
        Ok(())
    }

    fn features(&self, _: FeaturesRequest) -> Result<Features, Status> {
        Ok(Features {
            available: Impl::available()
                .into_iter()
                .map(|k| kernel_of(k) as i32)
                .collect(),
            best: kernel_of(Impl::best()) as i32,
        })
    }
}
