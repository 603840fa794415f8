// ListImages, StreamImages, ImageStatus, PullImage, RemoveImage, ImageFsInfo.
import type { Services } from '../../wiring.js';
import type { HandlerSet } from '../cri-types.js';
import type { ImageSpec__Output } from '../../generated/runtime/v1/ImageSpec.js';
import { invalidArgument } from '../../errors.js';

/** Images per StreamImages message: far below gRPC's 4 MiB default with long tag lists. */
const STREAM_BATCH = 200;

function requiredImage(spec: ImageSpec__Output | null | undefined, field: string): string {
  if (!spec?.image) throw invalidArgument(`${field}.image is required`);
  return spec.image;
}

export function imageHandlers(svc: Services): HandlerSet {
  return {
    ListImages: async (req, ctx) => ({ images: await svc.images.list(req.filter?.image?.image, ctx) }),
    StreamImages: async (req, stream, ctx) => {
      const images = await svc.images.list(req.filter?.image?.image, ctx);
      for (let i = 0; i < images.length; i += STREAM_BATCH) stream.write({ images: images.slice(i, i + STREAM_BATCH) });
    },
    ImageStatus: async (req, ctx) => svc.images.status(requiredImage(req.image, 'image'), req.verbose, ctx),
    PullImage: async (req, ctx) => ({ image_ref: await svc.images.pull(requiredImage(req.image, 'image'), req.auth, ctx.signal) }),
    RemoveImage: async (req, ctx) => {
      await svc.images.remove(requiredImage(req.image, 'image'), ctx);
      return {};
    },
    ImageFsInfo: async (_req, ctx) => svc.images.fsInfo(ctx),
  };
}
